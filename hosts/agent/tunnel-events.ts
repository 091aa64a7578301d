// What a tunnel reports, as events of the log: the savevm sections that passed (in batches), and
// how the tunnel ended (with the byte offset where a stream broke).
import type { EventInput } from '../../protocol/events.ts';
import type { TunnelEvent } from '../tunnel/index.ts';
import type { Outbox } from '../outbox/outbox.ts';
import { SectionBatcher } from './section-batcher.ts';

/**
 * What records one tunnel's events in the outbox. The savevm sections come with the stream, as
 * many a second as its sender likes, from inside the data path: they are counted into batches
 * (section-batcher.ts) and the batches group-committed (recordSoon), so neither the stream nor the
 * agent's heartbeats wait on them; anything else, how the tunnel ended above all, first writes the
 * pending batches and is then recorded durably at once.
 */
export function tunnelEventRecorder(outbox: Outbox): (e: TunnelEvent) => void {
  /** The tunnel's VM and migration, the same for every section it reports. */
  let of: { vm: string | null; migrationId: string | null } = { vm: null, migrationId: null };
  const batcher = new SectionBatcher((data) => outbox.recordSoon({ type: 'savevm.section', ...of, data }));
  return (e) => {
    const ev = tunnelEventToLog(e);
    if (ev?.type === 'savevm.section') {
      of = { vm: ev.vm, migrationId: ev.migrationId ?? null };
      batcher.add(ev.data);
      return;
    }
    batcher.flush();
    if (ev) outbox.record(ev);
  };
}

export function tunnelEventToLog(e: TunnelEvent): EventInput | undefined {
  const base = { vm: e.vm, migrationId: e.migrationId };
  switch (e.type) {
    case 'savevm': {
      const s = e.event;
      if (s.type === 'eof') {
        const data = {
          side: e.side,
          kind: 'eof' as const,
          idstr: '',
          offset: s.offset,
          bytes: 1, // QEMU_VM_EOF is one byte
          normalPages: 0,
          zeroPages: 0,
        };
        return { ...base, type: 'savevm.section', data };
      }
      if (
        s.type !== 'section-start' &&
        s.type !== 'section-part' &&
        s.type !== 'section-end' &&
        s.type !== 'section-full'
      ) {
        return undefined;
      }
      const ram = 'ram' in s ? s.ram : { normalPages: 0, zeroPages: 0 };
      return {
        ...base,
        type: 'savevm.section',
        data: {
          side: e.side,
          kind: s.type.slice('section-'.length) as 'start' | 'part' | 'end' | 'full',
          idstr: s.idstr,
          offset: s.offset,
          bytes: s.bytes,
          normalPages: ram.normalPages,
          zeroPages: ram.zeroPages,
        },
      };
    }
    case 'tunnel-closed':
      return {
        ...base,
        type: 'tunnel.closed',
        data: { side: e.side, bytes: e.bytes.toDestination, outcome: 'completed' },
      };
    case 'tunnel-broken':
      return {
        ...base,
        type: 'tunnel.closed',
        data: {
          side: e.side,
          bytes: e.bytes.toDestination,
          outcome: 'broken',
          offset: e.offset,
          error: e.message,
        },
      };
    case 'tunnel-refused':
      return {
        ...base,
        vm: e.vm || null,
        type: 'tunnel.closed',
        data: { side: e.side, bytes: 0, outcome: 'refused', error: e.reason },
      };
    case 'tunnel-opened':
      return undefined;
  }
}

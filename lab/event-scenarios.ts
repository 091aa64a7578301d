// The event sequences real agents and controllers record (see a `ferry events tail` of a run),
// made up with an EventForge: a host starting, a guest starting, and migrations that complete,
// are refused at Prepare for memory, or are aborted during Perform. Unit tests of the projection
// and the audit build their logs from these; the replay benchmark builds a million events of them.
import type { FerryEvent } from '../protocol/events.ts';
import type { EventForge } from './event-forge.ts';

export function hostStarted(f: EventForge, host: string, address = '127.0.0.50:40000'): FerryEvent {
  return f.record(host, {
    type: 'host.started',
    vm: null,
    data: { uuid: '00000000-0000-4000-8000-' + hex12(host), address },
  });
}

/** `ferry guest start`: the disk lease first, then the definition and the running guest. */
export function guestStarted(
  f: EventForge,
  host: string,
  vm: string,
  opts: { memoryMiB?: number; token?: number } = {},
): FerryEvent[] {
  return [
    f.record(host, { type: 'disk.leased', vm, data: { disks: [`${vm}-disk0`], tokens: [opts.token ?? 1] } }),
    f.record(host, {
      type: 'guest.defined',
      vm,
      data: { kind: 'emulated', memoryMiB: opts.memoryMiB ?? 96, incoming: false },
    }),
    f.record(host, { type: 'guest.started', vm, data: { pid: 1000, paused: false } }, 500),
  ];
}

/** `ferry guest kill`: the kill, then (the agent's onGone) the release of its disk. */
export function guestKilled(f: EventForge, host: string, vm: string, reason = 'killed by operator') {
  return [
    f.record(host, { type: 'guest.killed', vm, data: { reason } }),
    f.record(host, { type: 'disk.released', vm, data: { disks: [`${vm}-disk0`] } }),
  ];
}

export interface MigrationScenario {
  vm: string;
  migrationId: string;
  source: string;
  destination: string;
  /** The controller's outbox name. */
  controller?: string;
  memoryMiB?: number;
  /** RAM section parts per side (more for bigger or busier guests). */
  ramParts?: number;
  /** MIGRATION_PASS events on the source (a guest dirtying memory iterates). */
  passes?: number;
  /** The disk's fencing token the destination receives. */
  token?: number;
}

const DEVICES = ['timer', 'cpu', 'serial', 'globalstate'];

/** All five phases: the VM ends on the destination, the source guest killed at Confirm. */
export function completedMigration(f: EventForge, s: MigrationScenario): FerryEvent[] {
  const { vm, migrationId, source: src, destination: dst } = s;
  const m = { vm, migrationId };
  const out: FerryEvent[] = [];
  const at = (host: string, input: Parameters<EventForge['record']>[1], after = 3) =>
    out.push(f.record(host, { ...m, ...input }, after));
  const t0 = f.now;
  at(
    src,
    {
      type: 'migration.phase',
      vm,
      data: { phase: 'begin', side: 'source', mode: 'normal', detail: `to ${dst}` },
    },
    280,
  );
  at(
    dst,
    { type: 'guest.defined', vm, data: { kind: 'emulated', memoryMiB: s.memoryMiB ?? 96, incoming: true } },
    60,
  );
  at(dst, { type: 'guest.started', vm, data: { pid: 2000, paused: true } }, 500);
  at(dst, { type: 'migration.status', vm, data: { side: 'destination', status: 'setup' } }, 18);
  at(
    dst,
    {
      type: 'migration.phase',
      vm,
      data: { phase: 'prepare', side: 'destination', mode: 'normal', detail: 'incoming on 127.0.0.51:45523' },
    },
    8,
  );
  at(dst, { type: 'migration.status', vm, data: { side: 'destination', status: 'active' } }, 100);
  at(src, { type: 'migration.status', vm, data: { side: 'source', status: 'active' } }, 30);
  let offset = 26;
  const section = (
    side: 'source' | 'destination',
    kind: 'start' | 'part' | 'end' | 'full' | 'eof',
    idstr: string,
    bytes: number,
    pages = 0,
  ) => {
    at(
      side === 'source' ? src : dst,
      {
        type: 'savevm.section',
        vm,
        data: { side, kind, idstr, offset, bytes, normalPages: pages, zeroPages: 0 },
      },
      2,
    );
  };
  const both = (kind: 'start' | 'part' | 'end' | 'full' | 'eof', idstr: string, bytes: number, pages = 0) => {
    section('source', kind, idstr, bytes, pages);
    section('destination', kind, idstr, bytes, pages);
    offset += bytes;
  };
  both('start', 'ram', 53);
  const parts = s.ramParts ?? 3;
  const passes = s.passes ?? 0;
  for (let i = 0; i < parts; i++) {
    both('part', 'ram', 41_000 + i * 17, 10);
    if (passes > 0 && i % Math.max(1, Math.floor(parts / passes)) === 0) {
      at(
        src,
        {
          type: 'migration.pass',
          vm,
          data: { pass: Math.min(passes, 1 + Math.floor((i * passes) / parts)) },
        },
        1,
      );
    }
  }
  at(src, { type: 'guest.paused', vm, migrationId: null, data: { reason: 'vCPUs stopped (QMP STOP)' } }, 2);
  both('end', 'ram', 18);
  for (const d of DEVICES) both('full', d, 40);
  both('eof', '', 1);
  at(dst, { type: 'migration.status', vm, data: { side: 'destination', status: 'completed' } }, 20);
  at(
    dst,
    { type: 'tunnel.closed', vm, data: { side: 'destination', bytes: offset, outcome: 'completed' } },
    4,
  );
  at(src, { type: 'tunnel.closed', vm, data: { side: 'source', bytes: offset, outcome: 'completed' } }, 3);
  at(src, { type: 'migration.status', vm, data: { side: 'source', status: 'completed' } }, 25);
  at(src, { type: 'disk.released', vm, migrationId: null, data: { disks: [`${vm}-disk0`] } }, 140);
  at(
    src,
    {
      type: 'migration.phase',
      vm,
      data: {
        phase: 'perform',
        side: 'source',
        mode: 'normal',
        detail: `${offset} bytes, ${passes} passes, downtime 2 ms`,
      },
    },
    9,
  );
  at(
    dst,
    { type: 'disk.leased', vm, migrationId: null, data: { disks: [`${vm}-disk0`], tokens: [s.token ?? 2] } },
    140,
  );
  at(
    dst,
    { type: 'guest.resumed', vm, migrationId: null, data: { reason: 'vCPUs resumed (QMP RESUME)' } },
    3,
  );
  at(
    dst,
    {
      type: 'migration.phase',
      vm,
      data: { phase: 'finish', side: 'destination', mode: 'normal', detail: 'guest resumed' },
    },
    7,
  );
  at(src, { type: 'guest.killed', vm, data: { reason: `migrated to ${dst}` } }, 86);
  at(
    src,
    {
      type: 'migration.phase',
      vm,
      data: { phase: 'confirm', side: 'source', mode: 'normal', detail: 'source guest killed' },
    },
    10,
  );
  const ts = (ms: number) => new Date(t0 + ms).toISOString();
  const phase = (
    name: 'begin' | 'prepare' | 'perform' | 'finish' | 'confirm',
    host: string,
    from: number,
    to: number,
  ) => ({ name, host, mode: 'normal' as const, startedAt: ts(from), endedAt: ts(to), result: 'ok' as const });
  const total = f.now - t0;
  at(
    s.controller ?? 'controller',
    {
      type: 'migration.ended',
      vm,
      data: {
        outcome: 'completed',
        source: src,
        destination: dst,
        runsOn: dst,
        aborted: false,
        downtimeMs: 2,
        bytes: offset,
        passes,
        firstError: null,
        phases: [
          phase('begin', src, 0, 280),
          phase('prepare', dst, 280, 870),
          phase('perform', src, 870, total - 260),
          phase('finish', dst, total - 260, total - 100),
          phase('confirm', src, total - 100, total),
        ],
      },
    },
    40,
  );
  return out;
}

/** Refused at Prepare (the destination is short of memory): the source never stopped. */
export function refusedMigration(f: EventForge, s: MigrationScenario): FerryEvent[] {
  const { vm, migrationId, source: src, destination: dst } = s;
  const t0 = f.now;
  const out = [
    f.record(
      src,
      {
        type: 'migration.phase',
        vm,
        migrationId,
        data: { phase: 'begin', side: 'source', mode: 'normal', detail: `to ${dst}` },
      },
      280,
    ),
    f.record(
      src,
      {
        type: 'migration.phase',
        vm,
        migrationId,
        data: { phase: 'confirm', side: 'source', mode: 'cancelled', detail: 'resumed' },
      },
      60,
    ),
  ];
  const ts = (ms: number) => new Date(t0 + ms).toISOString();
  const message = `prepare of ${vm} on ${dst}: ${dst} has 64 MiB free of 64, ${vm} needs ${s.memoryMiB ?? 96} MiB`;
  out.push(
    f.record(
      s.controller ?? 'controller',
      {
        type: 'migration.ended',
        vm,
        migrationId,
        data: {
          outcome: 'rolled-back',
          source: src,
          destination: dst,
          runsOn: src,
          aborted: false,
          downtimeMs: null,
          bytes: null,
          passes: null,
          firstError: { phase: 'prepare', host: dst, vm, type: 'CapacityShort', message },
          phases: [
            { name: 'begin', host: src, mode: 'normal', startedAt: ts(0), endedAt: ts(280), result: 'ok' },
            {
              name: 'prepare',
              host: dst,
              mode: 'normal',
              startedAt: ts(280),
              endedAt: ts(300),
              result: 'failed',
              error: message,
            },
            {
              name: 'finish',
              host: dst,
              mode: 'cancelled',
              startedAt: ts(300),
              endedAt: ts(310),
              result: 'ok',
            },
            {
              name: 'confirm',
              host: src,
              mode: 'cancelled',
              startedAt: ts(310),
              endedAt: ts(340),
              result: 'ok',
            },
          ],
        },
      },
      20,
    ),
  );
  return out;
}

/** Aborted by the operator during Perform: the incoming guest is killed, the source keeps running. */
export function abortedMigration(f: EventForge, s: MigrationScenario): FerryEvent[] {
  const { vm, migrationId, source: src, destination: dst } = s;
  const m = { vm, migrationId };
  const t0 = f.now;
  const out: FerryEvent[] = [];
  const at = (host: string, input: Parameters<EventForge['record']>[1], after = 3) =>
    out.push(f.record(host, { ...m, ...input }, after));
  at(
    src,
    {
      type: 'migration.phase',
      vm,
      data: { phase: 'begin', side: 'source', mode: 'normal', detail: `to ${dst}` },
    },
    280,
  );
  at(
    dst,
    { type: 'guest.defined', vm, data: { kind: 'emulated', memoryMiB: s.memoryMiB ?? 96, incoming: true } },
    60,
  );
  at(dst, { type: 'guest.started', vm, data: { pid: 3000, paused: true } }, 500);
  at(dst, { type: 'migration.status', vm, data: { side: 'destination', status: 'setup' } }, 18);
  at(
    dst,
    {
      type: 'migration.phase',
      vm,
      data: { phase: 'prepare', side: 'destination', mode: 'normal', detail: 'incoming on 127.0.0.51:45524' },
    },
    8,
  );
  at(src, { type: 'migration.status', vm, data: { side: 'source', status: 'active' } }, 100);
  for (let i = 0; i < (s.ramParts ?? 2); i++) {
    at(
      src,
      {
        type: 'savevm.section',
        vm,
        data: {
          side: 'source',
          kind: 'part',
          idstr: 'ram',
          offset: 79 + i * 41_000,
          bytes: 41_000,
          normalPages: 10,
          zeroPages: 0,
        },
      },
      5,
    );
    at(
      dst,
      {
        type: 'savevm.section',
        vm,
        data: {
          side: 'destination',
          kind: 'part',
          idstr: 'ram',
          offset: 79 + i * 41_000,
          bytes: 41_000,
          normalPages: 10,
          zeroPages: 0,
        },
      },
      2,
    );
  }
  at(
    src,
    { type: 'migration.status', vm, data: { side: 'source', status: 'cancelled', error: 'aborted' } },
    300,
  );
  at(
    dst,
    {
      type: 'tunnel.closed',
      vm,
      data: {
        side: 'destination',
        bytes: 82_079,
        outcome: 'broken',
        offset: 82_079,
        error: 'the source closed the stream',
      },
    },
    5,
  );
  at(dst, { type: 'guest.killed', vm, data: { reason: `migration ${migrationId} rolled back` } }, 40);
  at(
    dst,
    {
      type: 'migration.phase',
      vm,
      data: { phase: 'finish', side: 'destination', mode: 'cancelled', detail: 'incoming guest killed' },
    },
    6,
  );
  at(
    src,
    {
      type: 'migration.phase',
      vm,
      data: { phase: 'confirm', side: 'source', mode: 'cancelled', detail: 'resumed' },
    },
    30,
  );
  const ts = (ms: number) => new Date(t0 + ms).toISOString();
  const total = f.now - t0;
  at(
    s.controller ?? 'controller',
    {
      type: 'migration.ended',
      vm,
      data: {
        outcome: 'rolled-back',
        source: src,
        destination: dst,
        runsOn: src,
        aborted: true,
        downtimeMs: null,
        bytes: 82_079,
        passes: 1,
        firstError: {
          phase: 'perform',
          host: src,
          vm,
          type: 'Aborted',
          message: 'aborted by the operator during perform',
        },
        phases: [
          { name: 'begin', host: src, mode: 'normal', startedAt: ts(0), endedAt: ts(280), result: 'ok' },
          { name: 'prepare', host: dst, mode: 'normal', startedAt: ts(280), endedAt: ts(870), result: 'ok' },
          {
            name: 'perform',
            host: src,
            mode: 'normal',
            startedAt: ts(870),
            endedAt: ts(total - 90),
            result: 'failed',
            error: 'aborted by the operator during perform',
          },
          {
            name: 'finish',
            host: dst,
            mode: 'cancelled',
            startedAt: ts(total - 90),
            endedAt: ts(total - 40),
            result: 'ok',
          },
          {
            name: 'confirm',
            host: src,
            mode: 'cancelled',
            startedAt: ts(total - 40),
            endedAt: ts(total),
            result: 'ok',
          },
        ],
      },
    },
    20,
  );
  return out;
}

function hex12(s: string): string {
  let h = 0;
  for (const c of s) h = (h * 31 + c.charCodeAt(0)) >>> 0;
  return h.toString(16).padStart(12, '0').slice(-12);
}

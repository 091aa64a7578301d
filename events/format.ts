// One event as one readable line (`ferry events tail`): time, host, VM, type, then what matters
// about that type, and the migration it belongs to.
import type { FerryEvent } from '../protocol/events.ts';

export function formatEvent(e: FerryEvent): string {
  const migration = e.migrationId ? `  [${e.migrationId}]` : '';
  return `${e.time}  ${e.host.padEnd(16)} ${(e.vm ?? '-').padEnd(16)} ${e.type.padEnd(17)} ${detail(e)}${migration}`;
}

function detail(e: FerryEvent): string {
  switch (e.type) {
    case 'host.started':
      return `up, data plane ${e.data.address}, uuid ${e.data.uuid}`;
    case 'host.stopped':
      return 'stopped (its guests keep running)';
    case 'guest.defined':
      return `${e.data.kind}, ${e.data.memoryMiB} MiB${e.data.incoming ? ', incoming' : ''}`;
    case 'guest.started':
      return `pid ${e.data.pid}${e.data.paused ? ', paused' : ''}`;
    case 'guest.paused':
    case 'guest.resumed':
    case 'guest.stopped':
    case 'guest.killed':
      return e.data.reason;
    case 'guest.reconnected':
      return `pid ${e.data.pid}, ${e.data.status}`;
    case 'migration.status':
      return `${e.data.side} ${e.data.status}${e.data.error ? `: ${e.data.error}` : ''}`;
    case 'migration.pass':
      return `pass ${e.data.pass}`;
    case 'migration.phase':
      return `${e.data.phase} (${e.data.side}${e.data.mode === 'normal' ? '' : `, ${e.data.mode}`}): ${e.data.detail}`;
    case 'migration.ended': {
      const d = e.data;
      const figures = [
        d.downtimeMs !== null ? `downtime ${d.downtimeMs} ms` : null,
        d.bytes !== null ? `${d.bytes} bytes` : null,
        d.passes !== null ? `${d.passes} passes` : null,
      ].filter(Boolean);
      const error = d.firstError ? `; first error ${d.firstError.phase}: ${d.firstError.message}` : '';
      return `${d.outcome}${d.aborted ? ' (aborted)' : ''} ${d.source} → ${d.destination}, runs on ${d.runsOn ?? 'no host'}${figures.length ? `; ${figures.join(', ')}` : ''}${error}`;
    }
    case 'disk.leased':
      return e.data.disks.map((d, i) => `${d} (token ${e.data.tokens[i] ?? '?'})`).join(', ');
    case 'disk.released':
      return e.data.disks.join(', ');
    case 'savevm.section':
      return `${e.data.side} ${(e.data.count ?? 1) > 1 ? `${e.data.count} × ` : ''}${e.data.kind} ${e.data.idstr || '-'} at ${e.data.offset}, ${e.data.bytes} bytes`;
    case 'tunnel.closed':
      return `${e.data.side} ${e.data.outcome}, ${e.data.bytes} bytes${e.data.error ? `: ${e.data.error}` : ''}`;
  }
}

// The data plane's refusals as log lines: a connection turned away (no valid certificate, another
// host than the migration's source, a wrong or used token, a peer over its connection limit) is
// something an operator must be able to find, whether or not it named a migration. A peer that
// hammers the port must not fill the disk with them: past a number of lines per address and
// minute the rest are counted, and said as one line when that address is heard from again.
import type { Logger } from '../../infra/logging/logger.ts';
import type { TunnelEventHandler } from '../tunnel/index.ts';

/** Lines per remote address per window; a migration's own retries stay far below. */
export const REFUSAL_LINES_PER_WINDOW = 20;
export const REFUSAL_WINDOW_MS = 60_000;

export function logTunnelRefusals(log: Logger, now: () => number = Date.now): TunnelEventHandler {
  const windows = new Map<string, { start: number; lines: number; suppressed: number }>();
  return (e) => {
    if (e.type !== 'tunnel-refused') return;
    const address = e.remote.replace(/:\d+$/, '');
    const t = now();
    let w = windows.get(address);
    if (!w || t - w.start >= REFUSAL_WINDOW_MS) {
      if (w && w.suppressed > 0) {
        log.warn(`${w.suppressed} more tunnel connections refused, not logged one by one`, {
          remote: address,
          windowMs: REFUSAL_WINDOW_MS,
        });
      }
      for (const [a, old] of windows) if (t - old.start >= REFUSAL_WINDOW_MS) windows.delete(a);
      w = { start: t, lines: 0, suppressed: 0 };
      windows.set(address, w);
    }
    if (w.lines >= REFUSAL_LINES_PER_WINDOW) {
      w.suppressed++;
      return;
    }
    w.lines++;
    log.warn(`refused a tunnel connection: ${e.reason}`, {
      remote: e.remote,
      peerHost: e.peerHost,
      migrationId: e.migrationId || undefined,
      vm: e.vm || undefined,
      detail: e.detail,
      ...(w.lines === REFUSAL_LINES_PER_WINDOW
        ? { more: 'further refusals from this address are counted' }
        : {}),
    });
  };
}

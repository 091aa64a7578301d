// The data plane's refusals as log lines: a connection turned away (no valid certificate, another
// host than the migration's source, a wrong or used token, a peer over its connection limit) is
// something an operator must be able to find, whether or not it named a migration.
import type { Logger } from '../../infra/logging/logger.ts';
import type { TunnelEventHandler } from '../tunnel/index.ts';

export function logTunnelRefusals(log: Logger): TunnelEventHandler {
  return (e) => {
    if (e.type !== 'tunnel-refused') return;
    log.warn(`refused a tunnel connection: ${e.reason}`, {
      remote: e.remote,
      peerHost: e.peerHost,
      migrationId: e.migrationId || undefined,
      vm: e.vm || undefined,
      detail: e.detail,
    });
  };
}

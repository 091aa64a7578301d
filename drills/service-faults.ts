// Restarts of the stack's services (Temporal server, Kafka broker, Redis with its data kept: AOF
// with appendfsync always, infra/redis/service.ts). They act on the shared dev stack, so they
// only stop a service ferry started here (stopService refuses an external one).
import { startService, stopService } from '../infra/stack/stack.ts';
import type { Fault } from './fault.ts';

export const DEFAULT_SERVICE_HEAL_MS = 3000;
export const RESTARTED_SERVICES = ['temporal', 'kafka', 'redis'] as const;
export type RestartedService = (typeof RESTARTED_SERVICES)[number];

export function restartService(service: RestartedService, healAfterMs = DEFAULT_SERVICE_HEAL_MS): Fault {
  return {
    name: `restart-${service}`,
    description:
      service === 'redis'
        ? `stop Redis (its data kept on disk), start it ${healAfterMs} ms later`
        : `stop the ${service === 'kafka' ? 'Kafka broker' : 'Temporal server'}, start it ${healAfterMs} ms later`,
    inject: (t) => stopService(t.cfg, service, (line) => t.log.info(line)),
    heal: async (t) => {
      await startService(t.cfg, service, (line) => t.log.info(line));
    },
    healAfterMs,
  };
}

// A host cut off from the others for longer than the leases: its links to Redis and Temporal and
// every stream to or from it blackholed (nothing answers, nothing is reset, as in a real
// partition), then healed. On a lab the host's own link goes down (its port on the lab's bridge):
// Kafka is cut too, its events wait in its outbox. Longer than the autokill lease (15 s) and the host registration (6 s),
// so the destination's incoming guest must die by autokill on its own side, and the cluster must
// see the host as down meanwhile.
import { DEFAULT_AUTOKILL_TTL_MS } from '../protocol/migration.ts';
import type { DrillTarget, Fault } from './fault.ts';
import { linksOfHost } from './links.ts';

/** Longer than the default autokill lease, with room for the reaper to notice. */
export const DEFAULT_PARTITION_MS = DEFAULT_AUTOKILL_TTL_MS + 10_000;

export function partitionHost(side: 'source' | 'destination', healAfterMs = DEFAULT_PARTITION_MS): Fault {
  const hostOf = (t: DrillTarget) => (side === 'source' ? t.source : t.destination);
  return {
    name: `partition-${side}`,
    description: `the ${side} host cut off from Redis, Temporal and the other host for ${healAfterMs} ms, then healed`,
    healAfterMs,
    async inject(target) {
      if (target.setLink) await target.setLink(hostOf(target), 'down');
      else (await linksOfHost(target.redis, hostOf(target))).partition();
    },
    async heal(target) {
      if (target.setLink) await target.setLink(hostOf(target), 'up');
      else (await linksOfHost(target.redis, hostOf(target))).heal();
    },
  };
}

export function partitionFaults(healAfterMs = DEFAULT_PARTITION_MS): Fault[] {
  return [partitionHost('source', healAfterMs), partitionHost('destination', healAfterMs)];
}

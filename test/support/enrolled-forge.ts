// Tests that write made-up logs sign them as agents and controllers do (EventForge.signAll) and
// enrol the forge's keys in the cluster's registry, so the audit takes their events with security
// on as well as off; `remove` takes the keys out again.
import type { Config } from '../../infra/config.ts';
import { adminIdentity } from '../../infra/pki/index.ts';
import { createRedis } from '../../infra/redis/client.ts';
import { EventKeys } from '../../infra/redis/event-keys.ts';
import type { EventForge } from '../../lab/event-forge.ts';

async function withKeys<T>(cfg: Config, work: (keys: EventKeys) => Promise<T>): Promise<T> {
  // The registry is written by the operator or the admin; a test on a secure stack acts as admin.
  const redis = createRedis(cfg, 'test-enrol', cfg.security.enabled ? { identity: adminIdentity(cfg) } : {});
  try {
    return await work(new EventKeys(redis));
  } finally {
    redis.disconnect();
  }
}

/** Enrols the keys of every publisher `forge` has signed for so far. */
export async function enrolForge(cfg: Config, forge: EventForge): Promise<{ remove(): Promise<void> }> {
  const ids = await withKeys(cfg, (keys) => forge.enrol(keys));
  return { remove: () => withKeys(cfg, (keys) => keys.remove(ids)) };
}

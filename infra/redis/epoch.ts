// The epoch of ferry's Redis: a random id set by the first to find none. A Redis that lost its data
// (restarted without its AOF, flushed, replaced) has none or another, which is how the agents
// (hosts/agent/redis-epoch.ts) and the cookie nonces (cookie-nonces.ts) know what they relied on is gone.
import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';

export const EPOCH_KEY = 'ferry:{epoch}';

/** The present epoch, set first if Redis has none. */
export async function currentEpoch(redis: Redis, key = EPOCH_KEY): Promise<string> {
  const reply = await redis.multi().set(key, randomUUID(), 'NX').get(key).exec();
  const epoch = reply?.[1]?.[1];
  if (typeof epoch !== 'string' || epoch === '') throw new Error(`Redis did not return ${key}`);
  return epoch;
}

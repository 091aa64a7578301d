// Every placement in Redis: for `ferry status` and for the audit's comparison of the log with the
// live system (a VM the log does not know but Redis places somewhere is a difference). The key
// layout is placement.ts's.
import type { Redis } from 'ioredis';

const PREFIX = 'ferry:vm:';

export async function allPlacements(redis: Redis): Promise<Map<string, string>> {
  const placements = new Map<string, string>();
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', `${PREFIX}*`, 'COUNT', 1000);
    cursor = next;
    if (keys.length === 0) continue;
    // GETs in one pipeline, not MGET: the placements are on different Redis Cluster slots.
    const pipeline = redis.pipeline();
    for (const k of keys) pipeline.get(k);
    const replies = (await pipeline.exec()) ?? [];
    keys.forEach((k, i) => {
      const [err, host] = replies[i] ?? [new Error(`no reply for ${k}`), null];
      if (err) throw err;
      if (typeof host === 'string') placements.set(k.slice(PREFIX.length), host);
    });
  } while (cursor !== '0');
  return placements;
}

// Which hosts are draining: a host marked here gets nothing new (`ferry guest start` and a
// migration's Prepare refuse it), as a cordoned node does. The mark stays after the drain ends, so
// a host emptied for maintenance stays empty until an operator runs `ferry undrain`.
import type { Redis } from 'ioredis';
import { z } from 'zod';

const DrainMarkSchema = z.object({
  /** The drain that marked it (its workflow id), or `operator`. */
  by: z.string().min(1),
  since: z.iso.datetime(),
});
export type DrainMark = z.infer<typeof DrainMarkSchema>;

/** Where drain marks live; tests pass their own prefix only for the store's own test. */
export class DrainMarks {
  constructor(
    private readonly redis: Redis,
    private readonly prefix = 'ferry',
  ) {}

  private key(host: string): string {
    return `${this.prefix}:draining:${host}`;
  }

  /** Marks the host draining; a mark already there is kept (the first drain's name stays). */
  async mark(host: string, by: string): Promise<DrainMark> {
    const mark: DrainMark = { by, since: new Date().toISOString() };
    await this.redis.set(this.key(host), JSON.stringify(mark), 'NX');
    return (await this.get(host)) ?? mark;
  }

  /** True if there was a mark to clear. */
  async clear(host: string): Promise<boolean> {
    return (await this.redis.del(this.key(host))) === 1;
  }

  async get(host: string): Promise<DrainMark | undefined> {
    const raw = await this.redis.get(this.key(host));
    return raw === null ? undefined : DrainMarkSchema.parse(JSON.parse(raw));
  }

  /** The marks of several hosts at once, by host name (absent: not draining). */
  async many(hosts: string[]): Promise<Map<string, DrainMark>> {
    if (hosts.length === 0) return new Map();
    // GETs in one pipeline, not MGET: the marks are on different Redis Cluster slots.
    const pipeline = this.redis.pipeline();
    for (const h of hosts) pipeline.get(this.key(h));
    const replies = (await pipeline.exec()) ?? [];
    const marks = new Map<string, DrainMark>();
    replies.forEach(([err, r], i) => {
      if (err) throw err;
      if (r !== null) marks.set(hosts[i]!, DrainMarkSchema.parse(JSON.parse(z.string().parse(r))));
    });
    return marks;
  }
}

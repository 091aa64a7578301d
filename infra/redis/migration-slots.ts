// Cluster-wide migration limits as slot leases: a migration started by a drain or a rebalance holds
// one slot of the cluster (at most N at once), one outbound slot of its source (M per host) and one
// inbound slot of its destination (K per host), taken all or nothing in one Lua call, together with
// a promise of its memory on the destination so that two drains never fill the same room twice.
// Every slot is held by the migration id with a TTL that its keepalive renews while the migration
// runs: a controller that dies leaks nothing for longer than the TTL. Releasing frees the slots at
// once and leaves a mark, so a late keepalive or acquire of the same id cannot take them back.
import type { Redis } from 'ioredis';
import { z } from 'zod';
import { loadScript, type ScriptRunner } from './scripts.ts';

export interface SlotLimits {
  /** Migrations in flight in the whole cluster. */
  cluster: number;
  /** Outbound migrations per source host. */
  perSource: number;
  /** Inbound migrations per destination host. */
  perDestination: number;
}

export interface SlotRequest {
  migrationId: string;
  vm: string;
  source: string;
  memoryMiB: number;
  /** Destinations in order of preference, each with its free memory as its registration says. */
  candidates: { host: string; freeMiB: number }[];
  limits: SlotLimits;
  ttlMs: number;
}

export type SlotAnswer =
  | { kind: 'acquired'; destination: string }
  | { kind: 'wait'; for: 'cluster' | 'source' | 'destination' | 'memory' }
  | { kind: 'no-room' }
  | { kind: 'released' };

export interface SlotHolder {
  migrationId: string;
  vm: string;
  source: string;
  destination: string;
  memoryMiB: number;
  acquiredAt: number;
}

/** Load of one host as the slots see it: migrations in and out, memory promised to incoming ones. */
export interface HostSlotLoad {
  inbound: number;
  outbound: number;
  promisedMiB: number;
}

/** How long a memory promise outlives its release: until the destination's next heartbeat counts the guest. */
export const DEFAULT_PROMISE_LINGER_MS = 3000;
/** How long a released id stays refused (far longer than any retried activity could arrive late). */
const RELEASE_MARK_MS = 3_600_000;

const HolderSchema = z.object({
  vm: z.string(),
  source: z.string(),
  destination: z.string(),
  memoryMiB: z.coerce.number(),
  acquiredAt: z.coerce.number(),
});

const AnswerSchema = z.union([
  z.tuple([z.literal('acquired'), z.string()]),
  z.tuple([z.literal('wait'), z.enum(['cluster', 'source', 'destination', 'memory'])]),
  z.tuple([z.literal('no-room')]),
  z.tuple([z.literal('released')]),
]);

/** Where the slots live; the controller passes its prefix, tests their own. */
export class MigrationSlots {
  private readonly acquireScript: ScriptRunner;
  private readonly renewScript: ScriptRunner;
  private readonly releaseScript: ScriptRunner;

  constructor(
    private readonly redis: Redis,
    private readonly prefix = 'ferry',
    private readonly promiseLingerMs = DEFAULT_PROMISE_LINGER_MS,
  ) {
    this.acquireScript = loadScript(redis, 'slots-acquire');
    this.renewScript = loadScript(redis, 'slots-renew');
    this.releaseScript = loadScript(redis, 'slots-release');
  }

  // One hash tag for all of a control queue's slots: an acquire weighs the cluster's, the source's
  // and every candidate's in one script, so they must all be on one Redis Cluster slot.
  private get all(): string {
    return `${this.prefix}:{slots}:cluster`;
  }
  private outbound(host: string): string {
    return `${this.prefix}:{slots}:out:${host}`;
  }
  private inbound(host: string): string {
    return `${this.prefix}:{slots}:in:${host}`;
  }
  private promises(host: string): string {
    return `${this.prefix}:{slots}:promised:${host}`;
  }
  private promisedMiB(host: string): string {
    return `${this.prefix}:{slots}:promised-mib:${host}`;
  }
  private holder(id: string): string {
    return `${this.prefix}:{slots}:holder:${id}`;
  }
  private released(id: string): string {
    return `${this.prefix}:{slots}:released:${id}`;
  }

  /** One try, never waits: the caller decides how to wait (the acquire activity heartbeats). */
  async tryAcquire(req: SlotRequest): Promise<SlotAnswer> {
    const { migrationId: id, limits } = req;
    const keys = [this.all, this.outbound(req.source), this.holder(id), this.released(id)];
    const args: (string | number)[] = [
      id,
      req.ttlMs,
      limits.cluster,
      limits.perSource,
      limits.perDestination,
      req.memoryMiB,
      req.vm,
      req.source,
    ];
    for (const c of req.candidates) {
      keys.push(this.inbound(c.host), this.promises(c.host), this.promisedMiB(c.host));
      args.push(c.host, c.freeMiB);
    }
    const reply = AnswerSchema.parse(await this.acquireScript(keys, args));
    switch (reply[0]) {
      case 'acquired':
        return { kind: 'acquired', destination: reply[1] };
      case 'wait':
        return { kind: 'wait', for: reply[1] };
      case 'no-room':
        return { kind: 'no-room' };
      case 'released':
        return { kind: 'released' };
    }
  }

  /** Keepalive: 'renewed', 'retaken' (they had lapsed), or 'released' (the migration ended). */
  async renew(
    holder: Omit<SlotHolder, 'acquiredAt'>,
    ttlMs: number,
  ): Promise<'renewed' | 'retaken' | 'released'> {
    const { migrationId: id, source, destination } = holder;
    const reply = await this.renewScript(
      [
        this.all,
        this.outbound(source),
        this.inbound(destination),
        this.promises(destination),
        this.promisedMiB(destination),
        this.holder(id),
        this.released(id),
      ],
      [id, ttlMs, holder.vm, source, destination, holder.memoryMiB],
    );
    return reply === 1 ? 'renewed' : reply === 2 ? 'retaken' : 'released';
  }

  /**
   * Frees the slots of a migration that ended (or never started: an acquire that was cancelled).
   * Idempotent. True if they were held.
   */
  async release(migrationId: string): Promise<boolean> {
    const holder = await this.get(migrationId);
    if (!holder) {
      // Nothing held (or it lapsed): the mark alone keeps a late acquire from taking slots.
      await this.redis.set(this.released(migrationId), '1', 'PX', RELEASE_MARK_MS);
      return false;
    }
    const reply = await this.releaseScript(
      [
        this.all,
        this.outbound(holder.source),
        this.inbound(holder.destination),
        this.promises(holder.destination),
        this.promisedMiB(holder.destination),
        this.holder(migrationId),
        this.released(migrationId),
      ],
      [migrationId, this.promiseLingerMs, RELEASE_MARK_MS],
    );
    return reply === 1;
  }

  async get(migrationId: string): Promise<SlotHolder | undefined> {
    const raw = await this.redis.hgetall(this.holder(migrationId));
    return Object.keys(raw).length === 0 ? undefined : { migrationId, ...HolderSchema.parse(raw) };
  }

  /** The migrations holding slots now, oldest first. */
  async holders(): Promise<SlotHolder[]> {
    const ids = await this.redis.zrangebyscore(this.all, Date.now(), '+inf');
    const holders = await Promise.all(ids.map((id) => this.get(id)));
    return holders
      .filter((h): h is SlotHolder => h !== undefined)
      .sort((a, b) => a.acquiredAt - b.acquiredAt);
  }

  /** Slots and promised memory of each host, live entries only. */
  async load(hosts: string[]): Promise<Map<string, HostSlotLoad>> {
    const now = Date.now();
    const pipeline = this.redis.pipeline();
    for (const h of hosts) {
      pipeline.zcount(this.inbound(h), now, '+inf');
      pipeline.zcount(this.outbound(h), now, '+inf');
      pipeline.zrangebyscore(this.promises(h), now, '+inf');
      pipeline.hgetall(this.promisedMiB(h));
    }
    const replies = (await pipeline.exec()) ?? [];
    const value = (i: number) => {
      const [err, v] = replies[i] ?? [new Error('no reply'), null];
      if (err) throw err;
      return v;
    };
    const load = new Map<string, HostSlotLoad>();
    hosts.forEach((h, i) => {
      const live = z.array(z.string()).parse(value(4 * i + 2));
      const mib = z.record(z.string(), z.coerce.number()).parse(value(4 * i + 3));
      load.set(h, {
        inbound: z.number().parse(value(4 * i)),
        outbound: z.number().parse(value(4 * i + 1)),
        promisedMiB: live.reduce((sum, id) => sum + (mib[id] ?? 0), 0),
      });
    });
    return load;
  }
}

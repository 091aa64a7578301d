// A host's registration in Redis: who it is, where its data plane listens, how much memory it has
// and uses, refreshed by a heartbeat. A host whose key expired is down (its agent stopped beating).
// What was last known of it (when it was last seen, the guests it ran then) is kept without a TTL,
// so that `ferry status` still shows a host that is down with the guests that outlive its agent.
import type { Redis } from 'ioredis';
import { z } from 'zod';
import { FerryError } from '../../errors/ferry-error.ts';
import { loadScript } from '../../infra/redis/scripts.ts';
import { HostGuestSchema, type HostGuest } from './host-guest.ts';

export const HEARTBEAT_MS = 2000;
const TTL_MS = HEARTBEAT_MS * 3;

export const HostRegistrationSchema = z.object({
  name: z.string(),
  uuid: z.uuid(),
  address: z.string(),
  dataPort: z.coerce.number().int(),
  memoryMiB: z.coerce.number().int(),
  usedMiB: z.coerce.number().int(),
  guests: z.coerce.number().int(),
  pid: z.coerce.number().int(),
  heartbeatAt: z.iso.datetime(),
  /** Unreadable outbox lines the agent moved to quarantine (hosts/outbox/recover.ts), ever. */
  outboxQuarantined: z.coerce.number().int().nonnegative().optional(),
});
export type HostRegistration = z.infer<typeof HostRegistrationSchema>;

/** A host as last seen: at its last heartbeat, or when its agent stopped (`stopped`). */
export const HostLastSeenSchema = z.object({
  seenAt: z.iso.datetime(),
  guests: z.array(HostGuestSchema),
  stopped: z.boolean(),
});
export type HostLastSeen = z.infer<typeof HostLastSeenSchema>;

/** A second agent claims a host name a live agent holds (another machine, another state dir). */
export class HostNameTakenError extends FerryError {
  readonly code = 'HOST_NAME_TAKEN';
}

/** Where registrations live; tests pass their own prefix. */
export class HostRegistry {
  constructor(
    private readonly redis: Redis,
    private readonly prefix = 'ferry',
  ) {}

  // One hash tag for every registration and the set of hosts: a heartbeat writes the host's keys
  // and the set in one MULTI, which a Redis Cluster takes only on one slot (docs/redis.md).
  private key(name: string): string {
    return `${this.prefix}:{hosts}:host:${name}`;
  }

  /** The guests the host last published, with the same TTL as its registration. */
  private guestsKey(name: string): string {
    return `${this.prefix}:{hosts}:host:${name}:guests`;
  }

  /** The host as last seen, kept when its registration lapses (no TTL). */
  private lastKey(name: string): string {
    return `${this.prefix}:{hosts}:host:${name}:last`;
  }

  private get set(): string {
    return `${this.prefix}:{hosts}`;
  }

  /** Which host UUID holds the name now; a key of its own, so no reader sees a half-made registration. */
  private claimKey(name: string): string {
    return `${this.prefix}:host-claim:${name}`;
  }

  /**
   * Binds `name` to the agent whose identity is `uuid` for `ttlMs` (renewed at every beat). A name
   * a live agent of another identity holds is refused: two agents answering one task queue and
   * writing one registration would each undo the other's guests and leases. A name whose agent
   * stopped (its claim lapsed or was given back) may be taken by a new identity.
   */
  async claim(name: string, uuid: string, ttlMs = TTL_MS): Promise<void> {
    const result = await loadScript(this.redis, 'host-claim')([this.claimKey(name)], [uuid, ttlMs]);
    if (result !== 'ok') {
      throw new HostNameTakenError(
        `host name ${name} is held by a live agent of another identity (host UUID ${String(result)})`,
        { hint: `stop that agent first (\`ferry host stop ${name}\` where it runs), or choose another name` },
      );
    }
  }

  /** Gives the name back when the agent stops, if the claim is still this identity's. */
  async unclaim(name: string, uuid: string): Promise<void> {
    await loadScript(this.redis, 'host-unclaim')([this.claimKey(name)], [uuid]);
  }

  /** Registers (or refreshes) the host, with its guests when given. */
  async heartbeat(
    reg: HostRegistration,
    { guests, ttlMs = TTL_MS }: { guests?: HostGuest[]; ttlMs?: number } = {},
  ): Promise<void> {
    const fields = Object.fromEntries(Object.entries(reg).map(([k, v]) => [k, String(v)]));
    const tx = this.redis
      .multi()
      .hset(this.key(reg.name), fields)
      .pexpire(this.key(reg.name), ttlMs)
      .sadd(this.set, reg.name);
    if (guests) {
      const last: HostLastSeen = { seenAt: reg.heartbeatAt, guests, stopped: false };
      tx.set(this.guestsKey(reg.name), JSON.stringify(guests), 'PX', ttlMs).set(
        this.lastKey(reg.name),
        JSON.stringify(last),
      );
    }
    await tx.exec();
  }

  /**
   * The host's agent stops. A host that had no guests is forgotten. One whose guests outlive its
   * agent stays listed, down (as a crashed host does), with those guests as last seen, until an
   * agent of that name registers again.
   */
  async deregister(name: string): Promise<void> {
    // A record of the wrong shape is not worth keeping: the host is forgotten as one without guests.
    const last = await this.lastSeen(name).catch(() => undefined);
    if (last && last.guests.length > 0) {
      const stopped: HostLastSeen = { ...last, seenAt: new Date().toISOString(), stopped: true };
      await this.redis
        .multi()
        .del(this.key(name), this.guestsKey(name))
        .set(this.lastKey(name), JSON.stringify(stopped))
        .exec();
      return;
    }
    await this.redis
      .multi()
      .del(this.key(name), this.guestsKey(name), this.lastKey(name))
      .srem(this.set, name)
      .exec();
  }

  /** What was last known of the host (up or down), or undefined if it never published its guests. */
  async lastSeen(name: string): Promise<HostLastSeen | undefined> {
    const raw = await this.redis.get(this.lastKey(name));
    return raw === null ? undefined : HostLastSeenSchema.parse(JSON.parse(raw));
  }

  /**
   * The guests a live host last published (at its last heartbeat or guest change), or undefined
   * if it published none or its heartbeat lapsed.
   */
  async guests(name: string): Promise<HostGuest[] | undefined> {
    const raw = await this.redis.get(this.guestsKey(name));
    return raw === null ? undefined : z.array(HostGuestSchema).parse(JSON.parse(raw));
  }

  /** A live host's registration, or undefined if it is unknown or its heartbeat lapsed. */
  async read(name: string): Promise<HostRegistration | undefined> {
    const raw = await this.redis.hgetall(this.key(name));
    return Object.keys(raw).length === 0 ? undefined : HostRegistrationSchema.parse(raw);
  }

  /** Every host that registered, live or not (a lapsed one is `down`). */
  async list(): Promise<{ name: string; up: boolean; registration?: HostRegistration }[]> {
    const names = (await this.redis.smembers(this.set)).sort();
    return Promise.all(
      names.map(async (name) => {
        const registration = await this.read(name);
        return registration ? { name, up: true, registration } : { name, up: false };
      }),
    );
  }
}

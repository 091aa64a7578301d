// Autokill leases for incoming guests. libvirt registers the incoming domain for autokill at
// Prepare and unregisters it at Finish, so a destination guest whose controlling client went away
// mid-migration is killed rather than left running beside its source. Here the controlling client
// is the migration: it renews a lease with a TTL, and a lease that lapses (the workflow or its
// worker stopped beating) means the guest must be killed. Finish claims the lease; if it already
// lapsed, the kill may be under way and Finish must fail rather than resume the guest.
//
// Expiry notifications are Redis pub/sub: a watcher that is disconnected when a lease lapses never
// hears of it. A killer should therefore also check `holder(vm)` for the guests it knows about.
import type { Redis } from 'ioredis';
import { loadScript, type ScriptRunner } from './scripts.ts';

/** How long a claim answers for a retried Finish (an activity retry), once the lease is gone. */
export const DEFAULT_CLAIM_MEMORY_MS = 10 * 60_000;

/** Where autokill leases live; tests pass their own prefix. */
export class AutokillLeases {
  private readonly registerScript: ScriptRunner;
  private readonly renewScript: ScriptRunner;
  private readonly claimScript: ScriptRunner;
  private readonly dropScript: ScriptRunner;

  constructor(
    private readonly redis: Redis,
    private readonly prefix = 'ferry',
    private readonly claimMemoryMs = DEFAULT_CLAIM_MEMORY_MS,
  ) {
    this.registerScript = loadScript(redis, 'autokill-register');
    this.renewScript = loadScript(redis, 'autokill-renew');
    this.claimScript = loadScript(redis, 'autokill-claim');
    this.dropScript = loadScript(redis, 'autokill-drop');
  }

  private key(vm: string): string {
    return `${this.prefix}:autokill:{${vm}}`;
  }

  // Outside the `autokill:` namespace, so its own expiry is not taken for a lapsed lease. The VM's
  // name is the hash tag of both keys, which the register and claim scripts take together.
  private claimKey(vm: string): string {
    return `${this.prefix}:autokill-claimed:{${vm}}`;
  }

  /** At Prepare. Refuses (false) if another owner's lease exists; the same owner's is renewed. */
  async register(input: { vm: string; host: string; owner: string; ttlMs: number }): Promise<boolean> {
    const { vm, host, owner, ttlMs } = input;
    return (await this.registerScript([this.key(vm), this.claimKey(vm)], [owner, host, ttlMs])) === 1;
  }

  /** Keepalive: false if the lease is gone (the guest is being killed) or someone else's. */
  async renew(input: { vm: string; owner: string; ttlMs: number }): Promise<boolean> {
    return (await this.renewScript([this.key(input.vm)], [input.owner, input.ttlMs])) === 1;
  }

  /**
   * At Finish: ends the owner's lease and returns true; false if it already lapsed (Finish must
   * then fail) or is another's. A retried claim by the same owner returns true again, for
   * `claimMemoryMs` after the first, unless the guest was registered anew meanwhile.
   */
  async claim(input: { vm: string; owner: string }): Promise<boolean> {
    const { vm, owner } = input;
    return (await this.claimScript([this.key(vm), this.claimKey(vm)], [owner, this.claimMemoryMs])) === 1;
  }

  /**
   * The owner lets its lease go at once, as if it had lapsed: the destination's reaper kills the
   * incoming guest at its next sweep. False if the lease was absent (Finish took it) or another's.
   */
  async drop(input: { vm: string; owner: string }): Promise<boolean> {
    return (await this.dropScript([this.key(input.vm)], [input.owner])) === 1;
  }

  async holder(vm: string): Promise<{ owner: string; host: string; ttlMs: number } | undefined> {
    const reply = await this.redis.multi().hmget(this.key(vm), 'owner', 'host').pttl(this.key(vm)).exec();
    const [[, fields], [, ttlMs]] = reply as [[unknown, (string | null)[]], [unknown, number]];
    const [owner, host] = fields;
    if (owner == null || host == null || ttlMs < 0) return undefined;
    return { owner, host, ttlMs };
  }

  /**
   * Calls onExpired(vm) when one of this prefix's leases lapses, from Redis's expired-key
   * notifications (the stack runs Redis with notify-keyspace-events Ex), on a connection of its
   * own since a subscribed connection can run no other command. Returns a stop function.
   */
  async watchExpiry(onExpired: (vm: string) => void): Promise<() => Promise<void>> {
    const channel = `__keyevent@${this.redis.options.db ?? 0}__:expired`;
    // A lease's key is `<prefix>:autokill:{vm}`: the VM's name is the hash tag.
    const leasePrefix = `${this.prefix}:autokill:{`;
    const subscriber = this.redis.duplicate({ connectionName: 'ferry-autokill-watch' });
    subscriber.on('error', () => undefined);
    subscriber.on('message', (from: string, key: string) => {
      if (from === channel && key.startsWith(leasePrefix) && key.endsWith('}')) {
        onExpired(key.slice(leasePrefix.length, -1));
      }
    });
    try {
      await subscriber.subscribe(channel);
    } catch (err) {
      subscriber.disconnect();
      throw err;
    }
    return async () => {
      await subscriber.quit().catch(() => subscriber.disconnect());
    };
  }
}

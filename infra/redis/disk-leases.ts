// The lock manager: one lease per disk, held by a host + VM, so two hosts never write the same disk
// (libvirt's lock driver). A lease has no TTL: it is held until released, because a lapsed lease on
// a disk a running guest still writes would be worse than a lease an operator must free by hand.
//
// The generation is the fencing token: it grows by one on every acquire and never goes back.
// Releasing returns a lockstate, the generation each disk was released at. Acquiring with that
// lockstate succeeds only while every disk is still free at that generation, so a process can let
// go of its disks (the source, for the destination to take them during a migration) and take them
// back later, "safe in the knowledge that no other process has acquired + released the leases in
// between" (libvirt's lock driver). The destination may present the source's lockstate too, to
// check that nobody touched the disks between the source letting go and it taking them.
//
// Retries. Acquiring disks the holder already holds returns their current tokens, unchanged.
// Releasing keeps the last holder's host and vm on the free lease, so releasing again (a retried
// activity) returns the same generation: the lockstate the first call would have returned. Once
// another holder has acquired a disk since, even if it released it again, the lease no longer
// names us; that disk is then left out of the lockstate, and an acquire with that lockstate fails
// LEASE_STALE for it, which is right: someone else had the disk in between. A disk still held by
// another holder fails the release with LEASE_NOT_HOLDER, changing none of the disks.
import type { Redis } from 'ioredis';
import { z } from 'zod';
import { FerryError } from '../../errors/ferry-error.ts';
import type { Lockstate } from './lockstate.ts';
import { loadScript, type ScriptRunner } from './scripts.ts';

export const LEASE_HELD = 'LEASE_HELD';
export const LEASE_STALE = 'LEASE_STALE';
export const LEASE_NOT_HOLDER = 'LEASE_NOT_HOLDER';
export type DiskLeaseErrorCode = typeof LEASE_HELD | typeof LEASE_STALE | typeof LEASE_NOT_HOLDER;

export interface DiskLease {
  disk: string;
  host: string;
  vm: string;
  /** The fencing token: the generation this holder acquired the disk at. */
  token: number;
}

export interface DiskHolder {
  host: string;
  vm: string;
}

export class DiskLeaseError extends FerryError {
  /** Who holds the disk, when that is why the operation failed. */
  readonly holder: DiskHolder | undefined;

  constructor(
    readonly code: DiskLeaseErrorCode,
    readonly disk: string,
    message: string,
    options?: { holder?: DiskHolder; cause?: unknown; hint?: string },
  ) {
    super(`disk ${disk}: ${message}`, options);
    this.holder = options?.holder;
  }
}

export function isDiskLeaseError(err: unknown): err is DiskLeaseError {
  return err instanceof DiskLeaseError;
}

const LeaseSchema = z.object({
  state: z.enum(['held', 'free']),
  host: z.string(),
  vm: z.string(),
  generation: z.coerce.number().int().positive(),
});

const ReplySchema = z.tuple([z.string()], z.union([z.number(), z.string()]));

/**
 * The key (under the prefix) of the generation floor: set once Redis lost its data (see
 * raiseGenerationFloor), so fencing tokens go on growing instead of starting again at 1.
 */
export const GENERATION_FLOOR = '{disks}:generation-floor';

/**
 * After a loss of Redis's data: every disk lease taken from now on starts above Redis's clock in
 * milliseconds, which is above any generation counted before (counters grow by one per lease).
 * Set once (NX): the first host to notice the loss sets it, the others find it.
 */
export async function raiseGenerationFloor(redis: Redis, prefix = 'ferry'): Promise<number> {
  const [seconds, micros] = await redis.time();
  const floor = Number(seconds) * 1000 + Math.floor(Number(micros) / 1000);
  await redis.set(`${prefix}:${GENERATION_FLOOR}`, floor, 'NX');
  return Number(await redis.get(`${prefix}:${GENERATION_FLOOR}`));
}

/** Where disk leases live; tests pass their own prefix. */
export class DiskLeases {
  private readonly acquireScript: ScriptRunner;
  private readonly releaseScript: ScriptRunner;

  constructor(
    private readonly redis: Redis,
    private readonly prefix = 'ferry',
  ) {
    this.acquireScript = loadScript(redis, 'disk-acquire');
    this.releaseScript = loadScript(redis, 'disk-release');
  }

  // One hash tag for the whole lock manager: an acquire takes any set of disks with the holder's
  // index and the generation floor in one script, so they must all be on one Redis Cluster slot.
  private key(disk: string): string {
    return `${this.prefix}:{disks}:disk:${disk}`;
  }

  private index(host: string): string {
    return `${this.prefix}:{disks}:held-by:${host}`;
  }

  /**
   * All or nothing, in one script over all the disks. Without a lockstate each disk must be free
   * (or never leased); with one, each must also still be at the lockstate's generation, else
   * LEASE_STALE. Disks the holder already holds keep their token (a retry). Returns the tokens.
   */
  async acquire(holder: DiskHolder, disks: string[], lockstate?: Lockstate): Promise<DiskLease[]> {
    const names = [...new Set(disks)];
    if (names.length === 0) return [];
    const expected = new Map(lockstate?.map((l) => [l.disk, l.generation]));
    const strays = [...expected.keys()].filter((d) => !names.includes(d));
    if (strays.length > 0) throw new Error(`lockstate names disks not acquired: ${strays.join(', ')}`);
    // A disk missing from the lockstate was not ours when we released: -1 matches no generation.
    const generations = lockstate ? names.map((d) => expected.get(d) ?? -1) : [];
    const reply = ReplySchema.parse(
      await this.acquireScript(
        [...names.map((d) => this.key(d)), this.index(holder.host), `${this.prefix}:${GENERATION_FLOOR}`],
        [holder.host, holder.vm, lockstate ? '1' : '', ...names, ...generations],
      ),
    );
    const [status, ...rest] = reply;
    if (status === 'ok') {
      return names.map((disk, i) => ({ disk, ...holder, token: Number(rest[i]) }));
    }
    const disk = names[Number(rest[0]) - 1]!;
    if (status === 'held') {
      const other = { host: String(rest[1]), vm: String(rest[2]) };
      throw new DiskLeaseError(LEASE_HELD, disk, `held by ${other.vm} on ${other.host}`, {
        holder: other,
        hint: `${other.vm} on ${other.host} must release it first`,
      });
    }
    if (status === 'stale') {
      const had = expected.get(disk);
      throw new DiskLeaseError(
        LEASE_STALE,
        disk,
        had === undefined
          ? `${holder.vm} on ${holder.host} has no lockstate for it: another holder had it when it was released`
          : `acquired and released by someone else since ${holder.vm} on ${holder.host} released it ` +
              `(generation ${Number(rest[1])}, lockstate says ${had})`,
        { hint: 'the disk may have been written meanwhile: do not resume the guest on it' },
      );
    }
    throw new Error(`unexpected disk-acquire reply ${status}`);
  }

  /**
   * Releases the disks this holder holds and returns their lockstate (see the header: a retried
   * release returns the same one). LEASE_NOT_HOLDER, changing nothing, if another holds one.
   */
  async release(holder: DiskHolder, disks: string[]): Promise<Lockstate> {
    const names = [...new Set(disks)];
    if (names.length === 0) return [];
    const [status, ...rest] = ReplySchema.parse(
      await this.releaseScript(
        [...names.map((d) => this.key(d)), this.index(holder.host)],
        [holder.host, holder.vm, ...names],
      ),
    );
    if (status === 'ok') {
      return names.map((disk, i) => ({ disk, generation: Number(rest[i]) })).filter((l) => l.generation > 0);
    }
    if (status === 'not_holder') {
      const disk = names[Number(rest[0]) - 1]!;
      const other = { host: String(rest[1]), vm: String(rest[2]) };
      throw new DiskLeaseError(
        LEASE_NOT_HOLDER,
        disk,
        `${holder.vm} on ${holder.host} cannot release it: held by ${other.vm} on ${other.host}`,
        { holder: other },
      );
    }
    throw new Error(`unexpected disk-release reply ${status}`);
  }

  /** The disk's holder and token, or undefined if it is free or was never leased. */
  async holderOf(disk: string): Promise<DiskLease | undefined> {
    const raw = await this.redis.hgetall(this.key(disk));
    if (Object.keys(raw).length === 0) return undefined;
    const lease = LeaseSchema.parse(raw);
    return lease.state === 'held'
      ? { disk, host: lease.host, vm: lease.vm, token: lease.generation }
      : undefined;
  }

  /** Every disk lease this host holds, by disk name. */
  async heldBy(host: string): Promise<DiskLease[]> {
    const disks = (await this.redis.smembers(this.index(host))).sort();
    const leases = await Promise.all(disks.map((d) => this.holderOf(d)));
    // A disk released between SMEMBERS and HGETALL is no longer this host's.
    return leases.filter((l): l is DiskLease => l?.host === host);
  }
}

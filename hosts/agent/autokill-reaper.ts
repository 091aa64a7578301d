// The destination's autokill (libvirt's qemuProcessAutoDestroy): an incoming guest lives only as
// long as its migration's autokill lease in Redis, which the migration's controller keeps alive.
// When the lease lapses (workflow terminated, controller gone longer than the lease), the agent
// kills the guest, ends its MIGRATION_IN job and says why. Expiry is noticed from Redis's keyspace
// notifications at once, and by a periodic sweep in case a notification was missed (Redis
// notifications are fire-and-forget: a reconnect loses them).
//
// A lease this agent cannot read (Redis unreachable, a partition that answers nothing) is not
// a lease it may count on: once the time it last saw the lease alive plus that lease's remaining
// TTL has passed, the lease counts as lapsed and the guest is killed, here, without Redis, as
// libvirt's autokill kills when the controlling connection closes. The controller on the far
// side of the partition sees the same lapse in Redis (or claims nothing at Finish), so both
// sides agree that the incoming guest is gone.
import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from '../../infra/logging/logger.ts';
import type { AutokillLeases } from '../../infra/redis/autokill.ts';
import type { JobStore } from '../../infra/redis/jobs.ts';
import type { GuestManager } from './guests.ts';

export const SWEEP_MS = 2000;
/** A lease read that takes longer than this counts as unanswered (Redis partitioned or hung). */
export const READ_TIMEOUT_MS = 1500;
/** Until the reaper has read a lease once, it counts on this much of it (the default TTL). */
export const DEFAULT_ASSUMED_TTL_MS = 15_000;

export interface ReaperDeps {
  host: string;
  guests: GuestManager;
  autokill: AutokillLeases;
  jobs: JobStore;
  log: Logger;
}

/** The destination agent's watch over its incoming guests, as the phase activities see it. */
export interface IncomingGuard {
  /** `ttlMs`: the autokill lease's TTL as just registered. */
  watch(vm: string, migrationId: string, ttlMs?: number): void;
  /** Finish is taking the guest off autokill: the reaper must leave it alone from now on. */
  finishing(vm: string): void;
  forget(vm: string): void;
}

export class AutokillReaper implements IncomingGuard {
  /** Incoming guest → the migration whose lease it lives by. */
  private readonly watched = new Map<string, string>();
  private readonly leaving = new Set<string>();
  /** Incoming guest → until when (performance.now()) its lease is known to live, from the last read. */
  private readonly aliveUntil = new Map<string, number>();
  private sweeping = false;
  private sweeper: NodeJS.Timeout | undefined;
  private unsubscribe: (() => Promise<void>) | undefined;

  constructor(private readonly deps: ReaperDeps) {}

  async start(): Promise<void> {
    this.unsubscribe = await this.deps.autokill.watchExpiry((vm) => void this.check(vm));
    this.sweeper = setInterval(() => void this.sweep(), SWEEP_MS);
  }

  async stop(): Promise<void> {
    clearInterval(this.sweeper);
    await this.unsubscribe?.();
  }

  /** `ttlMs`: the lease as just registered; by default the reaper assumes the default TTL. */
  watch(vm: string, migrationId: string, ttlMs = DEFAULT_ASSUMED_TTL_MS): void {
    this.watched.set(vm, migrationId);
    this.leaving.delete(vm);
    this.aliveUntil.set(vm, performance.now() + ttlMs);
  }

  finishing(vm: string): void {
    this.leaving.add(vm);
  }

  forget(vm: string): void {
    this.watched.delete(vm);
    this.leaving.delete(vm);
    this.aliveUntil.delete(vm);
  }

  watching(): string[] {
    return [...this.watched.keys()];
  }

  async sweep(): Promise<void> {
    if (this.sweeping) return; // a sweep still waiting on Redis: the next one would only queue behind it
    this.sweeping = true;
    try {
      await Promise.all([...this.watched.keys()].map((vm) => this.check(vm)));
    } finally {
      this.sweeping = false;
    }
  }

  private async check(vm: string): Promise<void> {
    const migrationId = this.watched.get(vm);
    if (migrationId === undefined || this.leaving.has(vm)) return;
    const askedAt = performance.now();
    let holder;
    try {
      holder = await readWithin(this.deps.autokill.holder(vm), READ_TIMEOUT_MS);
    } catch (err) {
      const until = this.aliveUntil.get(vm) ?? 0;
      if (performance.now() < until) {
        // The lease was alive when last read and its TTL has not run out: keep the guest.
        this.deps.log.warn('autokill check: Redis did not answer; the lease counts as alive for now', {
          vm,
          error: (err as Error).message,
          countsUntilMs: Math.round(until - performance.now()),
        });
        return;
      }
      if (this.watched.get(vm) !== migrationId || this.leaving.has(vm)) return;
      return this.fire(
        vm,
        migrationId,
        `autokill: the lease of migration ${migrationId} could not be read for longer than its TTL (Redis unreachable: ${(err as Error).message}), so it counts as lapsed and the incoming guest was killed`,
      );
    }
    if (holder?.owner === migrationId) {
      this.aliveUntil.set(vm, askedAt + holder.ttlMs);
      return;
    }
    if (this.watched.get(vm) !== migrationId || this.leaving.has(vm)) return;
    return this.fire(
      vm,
      migrationId,
      `autokill: the lease of migration ${migrationId} lapsed (its controller is gone), so the incoming guest was killed`,
    );
  }

  private async fire(vm: string, migrationId: string, reason: string): Promise<void> {
    this.watched.delete(vm);
    this.aliveUntil.delete(vm);
    this.deps.log.warn('autokill fired', { vm, migrationId, host: this.deps.host, reason });
    if (this.deps.guests.has(vm)) await this.deps.guests.kill(vm, reason, migrationId).catch(() => undefined);
    // Redis may still be out of reach: the lease and the job end when it answers, in this order,
    // without holding up the reaper. A lease that counted as lapsed here but is still alive there
    // (the controller kept renewing it across a partition) is taken too, so the controller's
    // keepalive learns that the guest is gone and no lease outlives it.
    void (async () => {
      await this.deps.autokill.claim({ vm, owner: migrationId });
      await this.deps.jobs.finish({ vm, host: this.deps.host, owner: migrationId });
    })().catch(() => undefined);
  }
}

/** The read, or a rejection once `ms` passed without an answer (the read itself is left to finish). */
async function readWithin<T>(read: Promise<T>, ms: number): Promise<T> {
  const ac = new AbortController();
  const timeout = sleep(ms, undefined, { signal: ac.signal }).then(() => {
    throw new Error(`no answer within ${ms} ms`);
  });
  read.catch(() => undefined);
  try {
    return await Promise.race([read, timeout]);
  } finally {
    ac.abort();
    timeout.catch(() => undefined);
  }
}

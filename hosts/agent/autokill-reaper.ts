// The destination's autokill (libvirt's qemuProcessAutoDestroy): an incoming guest lives only as
// long as its migration's autokill lease in Redis, which the migration's controller keeps alive.
// When the lease lapses (workflow terminated, controller gone longer than the lease), the agent
// kills the guest, ends its MIGRATION_IN job and says why. Expiry is noticed from Redis's keyspace
// notifications at once, and by a periodic sweep in case a notification was missed (Redis
// notifications are fire-and-forget: a reconnect loses them).
import type { Logger } from '../../infra/logging/logger.ts';
import type { AutokillLeases } from '../../infra/redis/autokill.ts';
import type { JobStore } from '../../infra/redis/jobs.ts';
import type { IncomingGuard } from '../../activities/migration/deps.ts';
import type { GuestManager } from './guests.ts';

export const SWEEP_MS = 2000;

export interface ReaperDeps {
  host: string;
  guests: GuestManager;
  autokill: AutokillLeases;
  jobs: JobStore;
  log: Logger;
}

export class AutokillReaper implements IncomingGuard {
  /** Incoming guest → the migration whose lease it lives by. */
  private readonly watched = new Map<string, string>();
  private readonly leaving = new Set<string>();
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

  watch(vm: string, migrationId: string): void {
    this.watched.set(vm, migrationId);
    this.leaving.delete(vm);
  }

  finishing(vm: string): void {
    this.leaving.add(vm);
  }

  forget(vm: string): void {
    this.watched.delete(vm);
    this.leaving.delete(vm);
  }

  watching(): string[] {
    return [...this.watched.keys()];
  }

  async sweep(): Promise<void> {
    for (const vm of [...this.watched.keys()]) await this.check(vm);
  }

  private async check(vm: string): Promise<void> {
    const migrationId = this.watched.get(vm);
    if (migrationId === undefined || this.leaving.has(vm)) return;
    let holder;
    try {
      holder = await this.deps.autokill.holder(vm);
    } catch (err) {
      // Redis unreachable says nothing about the controller: keep the guest, look again later.
      this.deps.log.warn('autokill check skipped: Redis did not answer', {
        vm,
        error: (err as Error).message,
      });
      return;
    }
    if (holder?.owner === migrationId || this.watched.get(vm) !== migrationId || this.leaving.has(vm)) return;
    this.watched.delete(vm);
    const reason = `autokill: the lease of migration ${migrationId} lapsed (its controller is gone), so the incoming guest was killed`;
    this.deps.log.warn('autokill fired', { vm, migrationId, host: this.deps.host });
    if (this.deps.guests.has(vm)) await this.deps.guests.kill(vm, reason, migrationId).catch(() => undefined);
    await this.deps.jobs.finish({ vm, host: this.deps.host, owner: migrationId }).catch(() => undefined);
  }
}

// The source's half of "the controller is gone": libvirt registers a cleanup on the controlling
// connection so that a source whose client vanished is put back. Here the controller is the
// migration's workflow; when it ended without Confirm (terminated, timed out, failed) the source's
// MIGRATION_OUT job would stay forever. The sweeper notices such jobs and decides as recovery does,
// with one more fact: nobody will call Confirm now.
import type { Client } from '@temporalio/client';
import type { Logger } from '../../infra/logging/logger.ts';
import type { JobStore } from '../../infra/redis/jobs.ts';

export const ORPHAN_SWEEP_MS = 3000;
/** A job this fresh may belong to a workflow that is only just starting: leave it. */
const GRACE_MS = 5000;

export class OrphanSweeper {
  private timer: NodeJS.Timeout | undefined;
  private sweeping = false;

  constructor(
    private readonly deps: {
      host: string;
      jobs: JobStore;
      client: Client;
      log: Logger;
      /** Settles one orphaned job (recovery with the controller known to be gone). */
      settle: (vm: string) => Promise<void>;
    },
  ) {}

  start(): void {
    this.timer = setInterval(() => void this.sweep(), ORPHAN_SWEEP_MS);
  }

  stop(): void {
    clearInterval(this.timer);
  }

  async sweep(): Promise<void> {
    if (this.sweeping) return;
    this.sweeping = true;
    try {
      for (const job of await this.deps.jobs.listForHost(this.deps.host)) {
        if (job.job !== 'MIGRATION_OUT' || Date.now() - Date.parse(job.updatedAt) < GRACE_MS) continue;
        if (await this.controllerAlive(job.owner)) continue;
        this.deps.log.warn('the migration controlling this job is gone; settling it', {
          vm: job.vm,
          migrationId: job.owner,
          phase: job.phase,
        });
        await this.deps.settle(job.vm);
      }
    } catch (err) {
      this.deps.log.warn('orphan sweep failed; trying again later', { error: (err as Error).message });
    } finally {
      this.sweeping = false;
    }
  }

  private async controllerAlive(migrationId: string): Promise<boolean> {
    try {
      const { status } = await this.deps.client.workflow.getHandle(migrationId).describe();
      return status.name === 'RUNNING';
    } catch (err) {
      if ((err as Error).name === 'WorkflowNotFoundError') return false;
      throw err; // Temporal unreachable says nothing about the workflow
    }
  }
}

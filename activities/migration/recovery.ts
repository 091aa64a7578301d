// What a restarting agent does with the migrations its predecessor left half-way, as libvirt's
// qemuProcessRecoverMigration does after a daemon restart: one exhaustive switch per side over
// the phase saved in the job record, each case saying what the phase means and what to do.
import { recordPhase } from './phase-event.ts';
import { resumeSource } from './source.ts';
import { readMemo } from './source-memo.ts';
import type { Logger } from '../../infra/logging/logger.ts';
import type { Placements } from '../../infra/redis/placement.ts';
import type { AutokillLeases } from '../../infra/redis/autokill.ts';
import type { DiskLeases } from '../../infra/redis/disk-leases.ts';
import type { JobRecord, JobStore } from '../../infra/redis/jobs.ts';
import type { AutokillReaper } from '../../hosts/agent/autokill-reaper.ts';
import type { GuestManager } from '../../hosts/agent/guests.ts';
import type { Outbox } from '../../hosts/outbox/outbox.ts';
import type { GuestLeases } from '../../hosts/agent/recorded-leases.ts';

export interface RecoveryDeps {
  host: string;
  placements: Placements;
  guests: GuestManager;
  jobs: JobStore;
  leases: GuestLeases;
  diskLeases: DiskLeases;
  autokill: AutokillLeases;
  reaper: AutokillReaper;
  outbox: Outbox;
  log: Logger;
}

type Decision = 'forgotten' | 'resumed' | 'killed' | 'left to the controller' | 'nothing here';

/**
 * `controllerGone`: the migration's workflow has ended without Confirm (the orphan sweeper), so
 * nothing will decide for a source left in perform3_done; recovery decides by where the VM runs.
 */
export async function recoverMigrations(
  deps: RecoveryDeps,
  opts: { controllerGone?: boolean; vm?: string } = {},
): Promise<{ vm: string; phase: string; decision: Decision }[]> {
  const decisions = [];
  for (const job of await deps.jobs.listForHost(deps.host)) {
    if (opts.vm !== undefined && job.vm !== opts.vm) continue;
    let decision: Decision;
    try {
      decision =
        job.job === 'MIGRATION_OUT'
          ? await recoverOutgoing(deps, job, opts.controllerGone ?? false)
          : await recoverIncoming(deps, job);
    } catch (err) {
      deps.log.error('could not recover a migration; its job stays for the operator', {
        vm: job.vm,
        migrationId: job.owner,
        phase: job.phase,
        error: (err as Error).message,
      });
      continue;
    }
    recordPhase(deps.outbox, {
      migrationId: job.owner,
      vm: job.vm,
      phase: job.job === 'MIGRATION_OUT' ? 'confirm' : 'finish',
      mode: 'recovery',
      detail: `agent restarted in ${job.phase}: ${decision}`,
    });
    deps.log.warn('recovered a migration left by the previous agent', {
      vm: job.vm,
      migrationId: job.owner,
      phase: job.phase,
      decision,
    });
    decisions.push({ vm: job.vm, phase: job.phase, decision });
  }
  return decisions;
}

async function recoverOutgoing(
  deps: RecoveryDeps,
  job: JobRecord,
  controllerGone: boolean,
): Promise<Decision> {
  const { guests, jobs, host } = deps;
  const owner = { vm: job.vm, host, owner: job.owner };
  const memo = readMemo(job.sourceMemo);
  switch (job.phase) {
    case 'begin3':
      // Begin only described the guest; nothing touched it. Forget the job: a Perform that still
      // comes finds none and fails, and the workflow compensates.
      await jobs.finish(owner);
      return 'forgotten';
    case 'perform3':
    case 'confirm3_cancelled':
      // The stream may have been running (perform3), or the controller had decided to roll back:
      // cancel QEMU's migration, take the leases back if they were released, resume.
      if (!guests.has(job.vm)) {
        await jobs.finish(owner);
        return 'nothing here';
      }
      await resumeSource(deps, job.vm, memo);
      await jobs.finish(owner);
      return 'resumed';
    case 'perform3_done': {
      // The stream is complete and the leases went with it; whether the destination runs the guest
      // is Finish's to say. Stay paused and leave Confirm to the controller, if there is one.
      if (!controllerGone) return 'left to the controller';
      // No controller: if Finish moved the VM, the destination runs it and the source goes; if the
      // destination's autokill lease is gone too, no Finish will come and the source resumes.
      if ((await deps.placements.of(job.vm)) === job.peer) {
        if (guests.has(job.vm))
          await guests.kill(
            job.vm,
            `migrated to ${job.peer} (its controller ended before Confirm)`,
            job.owner,
          );
        await jobs.finish(owner);
        return 'killed';
      }
      if ((await deps.autokill.holder(job.vm))?.owner === job.owner) return 'left to the controller';
      await resumeSource(deps, job.vm, memo);
      await jobs.finish(owner);
      return 'resumed';
    }
    case 'confirm3':
      // The controller decided success: the destination runs the guest. The source goes.
      if (guests.has(job.vm))
        await guests.kill(job.vm, 'migrated (confirmed before the agent restarted)', job.owner);
      await jobs.finish(owner);
      return 'killed';
    case 'prepare':
    case 'finish3':
      throw new Error(`a MIGRATION_OUT job cannot be in the destination's phase ${job.phase}`);
  }
}

async function recoverIncoming(deps: RecoveryDeps, job: JobRecord): Promise<Decision> {
  const { guests, jobs, host, reaper } = deps;
  const owner = { vm: job.vm, host, owner: job.owner };
  const kill = async (why: string): Promise<Decision> => {
    if (guests.has(job.vm)) await guests.kill(job.vm, why, job.owner);
    await deps.autokill.claim({ vm: job.vm, owner: job.owner });
    await jobs.finish(owner);
    return 'killed';
  };
  switch (job.phase) {
    case 'prepare':
    case 'finish3': {
      if (!guests.has(job.vm)) {
        await deps.autokill.claim({ vm: job.vm, owner: job.owner });
        await jobs.finish(owner);
        return 'nothing here';
      }
      // Finish had taken the disk leases: it was resuming the guest; its retry completes that.
      const disks = guests.definition(job.vm).disks;
      const holders = await Promise.all(disks.map((d) => deps.diskLeases.holderOf(d)));
      if (disks.length > 0 && holders.every((h) => h?.host === host && h.vm === job.vm)) {
        return 'left to the controller';
      }
      // The stream ran through the old agent's tunnel: if the guest had not loaded all of it, it
      // never will. If it had, and the migration still runs (its lease is alive), Finish may come.
      const { status } = await guests.qmp(job.vm).execute('query-status');
      const lease = await deps.autokill.holder(job.vm);
      if (status === 'inmigrate' || lease?.owner !== job.owner) {
        return kill(
          `the agent restarted before Finish (guest ${status}, autokill lease ${lease ? 'alive' : 'gone'})`,
        );
      }
      reaper.watch(job.vm, job.owner, lease.ttlMs);
      return 'left to the controller';
    }
    case 'begin3':
    case 'perform3':
    case 'perform3_done':
    case 'confirm3':
    case 'confirm3_cancelled':
      throw new Error(`a MIGRATION_IN job cannot be in the source's phase ${job.phase}`);
  }
}

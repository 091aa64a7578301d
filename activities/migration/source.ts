// The source side of the v3 protocol: SrcBegin, SrcPerform, SrcConfirm (and the speed changes a
// running Perform accepts). Each holds the VM's MIGRATION_OUT job from Begin to Confirm, so no
// other changing operation touches the guest meanwhile.
import { Context } from '@temporalio/activity';
import { migrateOut } from '../../hosts/agent/migration.ts';
import type { TransferProgress } from '../../protocol/migration.ts';
import { bandwidthBytesPerSec } from '../../protocol/bandwidth.ts';
import { issueCookie, readCookie } from './cookies.ts';
import { recordPhase } from './phase-event.ts';
import type { PhaseDeps } from './deps.ts';
import { asPhase, refuse } from './refuse.ts';
import { readMemo, type SourceMemo } from './source-memo.ts';
import type { Lockstate } from '../../infra/redis/lockstate.ts';

const REPORT_EVERY_MS = 1000;

export interface GuestDefinitionView {
  kind: 'emulated' | 'qemu';
  memoryMiB: number;
  dirtyPagesPerSecond: number;
  disks: string[];
}

export function createSourceActivities(deps: PhaseDeps) {
  const { host, guests, jobs, outbox } = deps;
  const phaseEvent = (
    migrationId: string,
    vm: string,
    phase: 'begin' | 'perform' | 'confirm',
    mode: 'normal' | 'cancelled',
    detail: string,
  ) => recordPhase(outbox, { migrationId, vm, phase, mode, detail });

  return {
    /** Begin: take the MIGRATION_OUT job, check the guest can go, describe it in a cookie. */
    async srcBegin(input: { migrationId: string; vm: string; destination: string }) {
      return asPhase(async () => {
        const { migrationId, vm, destination } = input;
        if (destination === host) {
          throw refuse('SameHost', `${vm} already runs on ${host}; refusing to migrate it to the same host`);
        }
        const def = guests.definition(vm);
        const { status, running } = await guests.qmp(vm).execute('query-status');
        if (status !== 'running' && status !== 'paused') {
          throw refuse(
            'NotMigratable',
            `${vm} on ${host} is ${status}; only a running or paused guest migrates`,
          );
        }
        await jobs.start({
          vm,
          host,
          job: 'MIGRATION_OUT',
          owner: migrationId,
          phase: 'begin3',
          peer: destination,
        });
        try {
          await jobs.setSourceMemo({
            vm,
            host,
            owner: migrationId,
            sourceMemo: JSON.stringify({ wasRunning: running, lockstate: null }),
          });
          const definition: GuestDefinitionView = {
            kind: def.kind,
            memoryMiB: def.memoryMiB,
            dirtyPagesPerSecond: def.dirtyPagesPerSecond,
            disks: def.disks,
          };
          const cookie = await issueCookie(deps, {
            migrationId,
            vm,
            phase: 'begin',
            to: destination,
            definition,
          });
          await jobs.continue({ vm, host, owner: migrationId });
          phaseEvent(migrationId, vm, 'begin', 'normal', `to ${destination}`);
          return { cookie, definition };
        } catch (err) {
          await jobs.finish({ vm, host, owner: migrationId }).catch(() => undefined);
          throw err;
        }
      });
    },

    /** Perform: stream the guest through the tunnel; at the pause the disk leases go into the cookie. */
    async srcPerform(input: {
      migrationId: string;
      vm: string;
      destination: string;
      cookie: string;
      maxDowntimeMs: number;
      bandwidthMiBps: number;
      tunnelBandwidthMiBps: number;
      progressTimeoutMs: number;
      via: { host: string; port: number } | null;
    }) {
      return asPhase(
        async () => {
          const { migrationId, vm, destination } = input;
          // Checked before the job moves on: a limit QEMU cannot be sent exactly is refused here.
          const maxBandwidth = bandwidthBytesPerSec(input.bandwidthMiBps, `max-bandwidth of ${migrationId}`);
          const tunnelBandwidth = bandwidthBytesPerSec(
            input.tunnelBandwidthMiBps,
            `tunnel bandwidth of ${migrationId}`,
          );
          const job = { vm, host, job: 'MIGRATION_OUT' as const, owner: migrationId };
          await jobs.startPhase({ ...job, phase: 'perform3' });
          const prepared = await readCookie(deps, input.cookie, {
            migrationId,
            vm,
            phase: 'prepare',
            reader: 'perform',
          });
          if (!prepared.tunnel)
            throw refuse('CookieIncomplete', 'the Prepare cookie carries no tunnel address');
          const ctx = Context.current();
          // The first report comes a second in and none at the end (Perform's result carries the
          // final figures): each signal is a workflow task, and one still running when Perform
          // completes delays the next phase by its length.
          let lastReport = Date.now();
          const out = await migrateOut(
            deps,
            {
              migrationId,
              vm,
              destination: input.via ?? { host: prepared.tunnel.host, port: prepared.tunnel.port },
              token: prepared.tunnel.token,
              // The Prepare cookie's signed issuer: with TLS the destination must prove to be it.
              destinationHost: prepared.from.host,
              downtimeLimitMs: input.maxDowntimeMs,
              ...(maxBandwidth > 0 ? { maxBandwidthBytesPerSec: maxBandwidth } : {}),
              ...(tunnelBandwidth > 0 ? { tunnelBandwidthBytesPerSec: tunnelBandwidth } : {}),
              progressTimeoutMs: input.progressTimeoutMs,
              signal: ctx.cancellationSignal,
            },
            (p: TransferProgress) => {
              ctx.heartbeat(p);
              const now = Date.now();
              if (now - lastReport >= REPORT_EVERY_MS && p.status !== 'completed') {
                lastReport = now;
                void deps.reportTransfer(migrationId, p).catch(() => undefined);
              }
            },
          );
          // Paused for good on this side: the disks go to the destination with their lockstate.
          const def = guests.definition(vm);
          const lockstate = await deps.leases.release({ host, vm }, def.disks);
          const memo = readMemo((await jobs.get(vm, host))?.sourceMemo ?? null);
          await jobs.setSourceMemo({ ...job, sourceMemo: JSON.stringify({ ...memo, lockstate }) });
          await jobs.setPhase({ ...job, phase: 'perform3_done' });
          await jobs.continue(job);
          const stats = {
            downtimeMs: out.downtimeMs,
            bytes: out.transferred,
            passes: out.passes,
            totalTimeMs: out.totalTimeMs,
          };
          const cookie = await issueCookie(deps, {
            migrationId,
            vm,
            phase: 'perform',
            to: destination,
            lockstate,
            digest: { source: out.digest },
            stats,
          });
          phaseEvent(
            migrationId,
            vm,
            'perform',
            'normal',
            `${out.transferred} bytes, ${out.passes} passes, downtime ${out.downtimeMs} ms`,
          );
          return { cookie, stats, digest: out.digest };
        },
        // Perform heartbeats its own progress, within the heartbeat timeout the migration sets.
        { beats: false },
      );
    },

    /** Speed and downtime changed while Perform runs (virsh migrate-setspeed / migrate-setmaxdowntime). */
    async srcSetSpeed(input: {
      migrationId: string;
      vm: string;
      maxDowntimeMs: number;
      bandwidthMiBps: number;
    }) {
      return asPhase(async () => {
        const bandwidth = bandwidthBytesPerSec(input.bandwidthMiBps, `max-bandwidth of ${input.migrationId}`);
        const job = await jobs.get(input.vm, host);
        if (job?.owner !== input.migrationId) return;
        await guests.qmp(input.vm).execute('migrate-set-parameters', {
          'downtime-limit': input.maxDowntimeMs,
          ...(bandwidth > 0 ? { 'max-bandwidth': bandwidth } : {}),
        });
      });
    },

    /**
     * Confirm: on success the source guest goes (it stayed paused since the switchover); cancelled,
     * it resumes with its disk leases back. Idempotent: a retry finds the job gone and does nothing.
     */
    async srcConfirm(input: {
      migrationId: string;
      vm: string;
      destination: string;
      cookie: string | null;
      cancelled: boolean;
      lockstate?: Lockstate;
    }) {
      return asPhase(async () => {
        const { migrationId, vm } = input;
        const record = await jobs.get(vm, host);
        if (record === undefined && !input.cancelled && input.cookie !== null && guests.has(vm)) {
          // No job, yet the guest is still here: Redis lost its data after the switchover (a
          // retried Confirm finds the guest gone too). The Finish cookie says the destination
          // resumed it, so this paused copy goes, as Confirm would have done; a running one is
          // not this migration's to touch.
          if (!(await guests.qmp(vm).execute('query-status')).running) {
            await readCookie(deps, input.cookie, {
              migrationId,
              vm,
              phase: 'finish',
              reader: 'confirm',
              acrossLoss: true,
            });
            await guests.kill(
              vm,
              `migrated to ${input.destination} (its job was lost with Redis's data)`,
              migrationId,
            );
            phaseEvent(
              migrationId,
              vm,
              'confirm',
              'normal',
              'source guest killed (job lost with Redis data)',
            );
            return { action: 'killed' as const };
          }
        }
        if (record?.owner !== migrationId) return { action: 'nothing' as const };
        const job = { vm, host, job: 'MIGRATION_OUT' as const, owner: migrationId };
        if (!input.cancelled) {
          if (input.cookie === null) throw refuse('CookieMissing', 'Confirm needs the Finish cookie');
          await readCookie(deps, input.cookie, { migrationId, vm, phase: 'finish', reader: 'confirm' });
          await jobs.startPhase({ ...job, phase: 'confirm3' });
          if (guests.has(vm)) await guests.kill(vm, `migrated to ${input.destination}`, migrationId);
          await jobs.finish(job);
          phaseEvent(migrationId, vm, 'confirm', 'normal', 'source guest killed');
          return { action: 'killed' as const };
        }
        await jobs.startPhase({ ...job, phase: 'confirm3_cancelled' });
        let action;
        try {
          action = await resumeSource(deps, vm, readMemo(record.sourceMemo), input.lockstate);
        } catch (err) {
          // The migration is over either way: a guest that cannot safely resume (its disks were
          // taken meanwhile, or it is gone) stays paused for the operator, and the job ends.
          await jobs.finish(job);
          phaseEvent(migrationId, vm, 'confirm', 'cancelled', `could not resume: ${(err as Error).message}`);
          throw err;
        }
        await jobs.finish(job);
        phaseEvent(migrationId, vm, 'confirm', 'cancelled', action);
        return { action };
      });
    },
  };
}

/**
 * Puts the source back as it was before the migration: QEMU's migration cancelled if it still runs,
 * the disk leases re-acquired with their lockstate if Perform released them, the vCPUs resumed if
 * they ran. Also what an agent restarting in Perform or Confirm-cancelled does.
 */
export async function resumeSource(
  deps: Pick<PhaseDeps, 'host' | 'guests' | 'leases'>,
  vm: string,
  memo: SourceMemo,
  handedBack?: Lockstate,
): Promise<'resumed' | 'left paused'> {
  const { guests, host } = deps;
  if (!guests.has(vm)) {
    throw refuse('GuestLost', `${vm} is gone from ${host}: nothing to resume (its process ended)`);
  }
  const qmp = guests.qmp(vm);
  const info = await qmp.execute('query-migrate');
  if (info.status && !['completed', 'failed', 'cancelled', 'none'].includes(info.status)) {
    await qmp.execute('migrate_cancel');
    for (let i = 0; i < 100; i++) {
      const s = (await qmp.execute('query-migrate')).status;
      if (s === 'cancelled' || s === 'failed' || s === 'completed') break;
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  const lockstate = handedBack ?? memo.lockstate;
  if (lockstate) {
    // Never run without the leases: a stale lockstate (someone held the disks since) stops here.
    await deps.leases.acquire({ host, vm }, guests.definition(vm).disks, lockstate);
  }
  if (!memo.wasRunning) return 'left paused';
  const { running } = await qmp.execute('query-status');
  if (!running) await qmp.execute('cont');
  return 'resumed';
}

export type SourceActivities = ReturnType<typeof createSourceActivities>;

// libvirt's migration protocol v3 as a durable workflow: Begin (source) → Prepare (destination) →
// Perform (source) → Finish (destination) → Confirm (source), each phase an activity on the task
// queue of the host that performs it, cookies passed from each phase to the next.
//
// Compensation follows libvirt: when Begin, Prepare or Perform fails or is aborted, Finish runs
// cancelled (the incoming guest is killed) and Confirm runs cancelled (the source resumes, with
// its disk leases back). Compensation runs in a non-cancellable scope, so aborting a migration
// never cancels its own clean-up. Finish is the point of no return: once it starts the migration
// completes or rolls back on its own, and a later abort is only noted.
import {
  CancellationScope,
  CancelledFailure,
  condition,
  patched,
  isCancellation,
  setHandler,
  sleep,
  workflowInfo,
  log,
} from '@temporalio/workflow';
import {
  controlRecord,
  controlRecordLocal,
  destinationForAWhile,
  destinationOnce,
  destinationUntilDone,
  keepalive,
  sourceOnce,
  sourceShort,
  sourceUntilDone,
} from './migration/activity-proxies.ts';
import { describeFailure, failureDetails, lostTheHost, neverStarted } from './migration/failure.ts';
import { progress, reportTransfer, resume, setBandwidth, setMaxDowntime } from './migration/messages.ts';
import type { Lockstate } from '../infra/redis/lockstate.ts';
import { Timeline } from './migration/timeline.ts';
import {
  completionTimeoutMs,
  DEFAULT_AUTOKILL_TTL_MS,
  DEFAULT_COMPLETION_TIMEOUT_PER_GIB_MS,
  DEFAULT_HEARTBEAT_TIMEOUT_MS,
  DEFAULT_HOST_PICKUP_TIMEOUT_MS,
  DEFAULT_MAX_DOWNTIME_MS,
  DEFAULT_PROGRESS_TIMEOUT_MS,
  type MigrateInput,
  type MigrationReport,
  type MigrationProgressView,
  type PhaseRecord,
  type TransferProgress,
} from '../protocol/migration.ts';
import type { PhaseName } from '../protocol/phases.ts';

export async function migrate(input: MigrateInput): Promise<MigrationReport> {
  const migrationId = workflowInfo().workflowId;
  const root = CancellationScope.current();
  const { vm, source, destination } = input;
  const autokillTtlMs = input.autokillTtlMs ?? DEFAULT_AUTOKILL_TTL_MS;
  const timeline = new Timeline(vm);
  let state: MigrationProgressView['state'] = 'running';
  let maxDowntimeMs = input.maxDowntimeMs ?? DEFAULT_MAX_DOWNTIME_MS;
  let bandwidthMiBps = input.bandwidthMiBps ?? 0;
  let transfer: TransferProgress | null = null;
  let abortRequested = false;
  let resumed = false;
  let speedChanged = false;

  setHandler(progress, () => ({
    migrationId,
    vm,
    source,
    destination,
    phase: timeline.current(),
    state,
    maxDowntimeMs,
    bandwidthMiBps,
    phases: timeline.phases,
    transfer,
    firstError: timeline.firstError,
    abortRequested,
  }));
  setHandler(setMaxDowntime, (ms) => {
    maxDowntimeMs = ms;
    speedChanged = true;
  });
  setHandler(setBandwidth, (mibps) => {
    bandwidthMiBps = mibps;
    speedChanged = true;
  });
  setHandler(resume, () => {
    resumed = true;
  });
  setHandler(reportTransfer, (p) => {
    transfer = p;
  });

  const hold = async (phase: PhaseName) => {
    if (!input.holdBefore?.includes(phase)) return;
    state = 'held';
    resumed = false;
    log.info('migration held before a phase', { migrationId, vm, phase });
    await condition(() => resumed);
    state = 'running';
  };

  /** Runs one phase, recording it; a failure is recorded (first error kept) and rethrown. */
  async function phase<T>(
    name: PhaseName,
    host: string,
    mode: PhaseRecord['mode'],
    run: () => Promise<T>,
  ): Promise<T> {
    const record = timeline.start(name, host, mode);
    try {
      const value = await run();
      timeline.end(record);
      return value;
    } catch (err) {
      // The source answers an abort with its own error (the migration it cancelled): an abort.
      const failure = root.consideredCancelled
        ? { type: 'Aborted', message: 'aborted' }
        : describeFailure(err);
      if (failure.type === 'Aborted') abortRequested = true;
      timeline.end(record, {
        type: failure.type,
        message:
          failure.type === 'Aborted'
            ? `aborted by the operator during ${name}`
            : `${name} of ${vm} on ${host}: ${failure.message}`,
      });
      throw err;
    }
  }

  const heartbeatTimeoutMs = input.heartbeatTimeoutMs ?? DEFAULT_HEARTBEAT_TIMEOUT_MS;
  const pickupMs = input.hostPickupTimeoutMs ?? DEFAULT_HOST_PICKUP_TIMEOUT_MS;
  const src = sourceShort(source, pickupMs);
  const dst = destinationOnce(destination, pickupMs);
  let begun = false;
  let prepared = false;
  let stopKeepalive: (() => void) | undefined;
  let performed: Awaited<ReturnType<typeof src.srcPerform>> | undefined;

  const result = await protocol();
  // Recorded by a local activity since 'migration-ended-local', by a remote one since
  // 'migration-ended-event'; histories from before both replay without the event.
  if (patched('migration-ended-local')) {
    await CancellationScope.nonCancellable(() => controlRecordLocal().recordMigrationEnded(result));
  } else if (patched('migration-ended-event')) {
    await CancellationScope.nonCancellable(() => controlRecord().recordMigrationEnded(result));
  }
  return result;

  async function protocol(): Promise<MigrationReport> {
    try {
      await hold('begin');
      begun = true; // Confirm (cancelled) ends whatever job Begin may have started
      const begin = await phase('begin', source, 'normal', () =>
        src.srcBegin({ migrationId, vm, destination }),
      ).catch((err: unknown) => {
        // Never picked up: the source's agent is down and Begin touched nothing to undo.
        if (neverStarted(err)) begun = false;
        throw err;
      });
      await hold('prepare');
      // The keepalive runs from before Prepare registers the lease (it waits for the lease to
      // appear), so a slow activation never lets a fresh lease lapse. Histories from before this
      // patch started it after Prepare.
      const keepaliveFirst = patched('keepalive-before-prepare');
      if (keepaliveFirst) stopKeepalive = startKeepalive(migrationId, vm, autokillTtlMs);
      const prepare = await phase('prepare', destination, 'normal', async () => {
        prepared = true; // from here on the destination may hold an incoming guest to kill
        return dst.dstPrepare({ migrationId, vm, source, cookie: begin.cookie, autokillTtlMs });
      }).catch((err: unknown) => {
        // Never picked up: no incoming guest exists, no cancelled Finish to wait for.
        if (neverStarted(err)) prepared = false;
        throw err;
      });
      if (!keepaliveFirst) stopKeepalive = startKeepalive(migrationId, vm, autokillTtlMs);
      await hold('perform');
      const timeoutMs = completionTimeoutMs(
        begin.definition.memoryMiB,
        input.completionTimeoutPerGiBMs ?? DEFAULT_COMPLETION_TIMEOUT_PER_GIB_MS,
      );
      const performer = sourceOnce(source, heartbeatTimeoutMs, timeoutMs + 60_000, pickupMs);
      performed = await phase('perform', source, 'normal', () =>
        CancellationScope.cancellable(async () => {
          const scope = CancellationScope.current();
          let completionTimedOut = false;
          const timer = sleep(timeoutMs).then(() => {
            completionTimedOut = true;
            scope.cancel();
          });
          const forwardSpeed = (async () => {
            for (;;) {
              await condition(() => speedChanged);
              speedChanged = false;
              await src
                .srcSetSpeed({ migrationId, vm, maxDowntimeMs, bandwidthMiBps })
                .catch((err: unknown) => {
                  if (!isCancellation(err))
                    log.warn('could not change speed', { error: describeFailure(err).message });
                });
            }
          })();
          void forwardSpeed.catch(() => undefined);
          void timer.catch(() => undefined);
          try {
            return await performer.srcPerform({
              migrationId,
              vm,
              destination,
              cookie: prepare.cookie,
              maxDowntimeMs,
              bandwidthMiBps,
              tunnelBandwidthMiBps: input.tunnelBandwidthMiBps ?? 0,
              progressTimeoutMs: input.progressTimeoutMs ?? DEFAULT_PROGRESS_TIMEOUT_MS,
              via: input.via ?? null,
            });
          } catch (err) {
            if (completionTimedOut) {
              throw new CompletionTimeout(
                `did not complete within ${Math.round(timeoutMs / 1000)} s (${Math.round(
                  (input.completionTimeoutPerGiBMs ?? DEFAULT_COMPLETION_TIMEOUT_PER_GIB_MS) / 1000,
                )} s per GiB); cancelled`,
              );
            }
            throw err;
          }
        }),
      );
      // The source reports no final progress (its result has the figures): the view shows them.
      transfer = {
        status: 'completed',
        transferred: performed.stats.bytes,
        remaining: 0,
        passes: performed.stats.passes,
        expectedDowntimeMs: performed.stats.downtimeMs,
      };
      // The last moment an abort still rolls back, held here or not.
      await hold('finish');
      if (root.consideredCancelled) throw new CancelledFailure('aborted before finish');
    } catch (err) {
      if (isCancellation(err)) {
        abortRequested = true;
        const last = timeline.phases.at(-1);
        timeline.fail(last?.name ?? 'begin', last?.host ?? source, {
          type: 'Aborted',
          message: `aborted by the operator ${last ? `after ${last.name}` : 'before begin'}`,
        });
      }
      return CancellationScope.nonCancellable(() => rollBack());
    }

    // Point of no return: Finish and Confirm run to the end, whatever is asked meanwhile.
    const done = performed;
    if (!done) throw new Error('unreachable: Perform ended without a result');
    return CancellationScope.nonCancellable(async () => {
      state = 'running';
      let finished: Awaited<ReturnType<typeof dst.dstFinish>>;
      try {
        finished = await phase('finish', destination, 'normal', () =>
          destinationUntilDone(destination, Math.max(pickupMs, 4 * autokillTtlMs)).dstFinish({
            migrationId,
            vm,
            source,
            cookie: done.cookie,
            cancelled: false,
          }),
        );
      } catch (err) {
        // Finish killed its guest; the source resumes with the lockstate Finish hands back, if any.
        const handedBack = failureDetails<{ lockstate?: Lockstate }>(err)?.lockstate;
        stopKeepalive?.();
        return confirmCancelled(handedBack);
      }
      stopKeepalive?.();
      await hold('confirm');
      try {
        await phase('confirm', source, 'normal', () =>
          sourceUntilDone(source).srcConfirm({
            migrationId,
            vm,
            destination,
            cookie: finished.cookie,
            cancelled: false,
          }),
        );
      } catch (err) {
        // Confirm is retried until done, so this is a refusal. Finish already resumed the guest on
        // the destination, and nothing here moves it back: the migration completed, with Confirm's
        // refusal as its error (kept by phase()), and whatever the source still holds is its
        // agent's to clean up on restart (the recovery switch), as libvirt leaves a failed Confirm.
        // Histories from before this patch failed the workflow here and must replay as such.
        if (!patched('confirm-refused-completes')) throw err;
        log.warn('Confirm refused after Finish: the guest runs on the destination', {
          migrationId,
          vm,
          source,
          destination,
          error: describeFailure(err).message,
        });
      }
      state = 'done';
      return report('completed', destination, finished.digest);
    });
  }

  async function rollBack(): Promise<MigrationReport> {
    state = 'compensating';
    stopKeepalive?.();
    if (prepared) {
      await phase('finish', destination, 'cancelled', () =>
        destinationForAWhile(destination, autokillTtlMs).dstFinish({
          migrationId,
          vm,
          source,
          cookie: null,
          cancelled: true,
        }),
      ).catch((err: unknown) =>
        log.warn('cancelled Finish did not reach the destination; its autokill lease lapses instead', {
          migrationId,
          vm,
          destination,
          error: describeFailure(err).message,
        }),
      );
    }
    if (!begun) {
      state = 'done';
      return report('rolled-back', source, null);
    }
    return confirmCancelled(undefined);
  }

  async function confirmCancelled(handedBackLockstate: Lockstate | undefined): Promise<MigrationReport> {
    state = 'compensating';
    try {
      await phase('confirm', source, 'cancelled', () =>
        sourceUntilDone(source).srcConfirm({
          migrationId,
          vm,
          destination,
          cookie: null,
          cancelled: true,
          lockstate: handedBackLockstate,
        }),
      );
    } catch {
      state = 'done';
      return report('failed', null, null);
    }
    state = 'done';
    // A refused Begin touched nothing and did not find the VM on `source`: say nothing of where it
    // runs. A Begin that lost its host (timed out, aborted) refused nothing: the VM is where it was.
    const beginFailed = timeline.phases.some((p) => p.name === 'begin' && p.result === 'failed');
    const beginRefused = beginFailed && !lostTheHost(timeline.firstError?.type);
    return report('rolled-back', beginRefused ? null : source, null);
  }

  function report(
    outcome: MigrationReport['outcome'],
    runsOn: string | null,
    destinationDigest: string | null,
  ) {
    return {
      migrationId,
      vm,
      source,
      destination,
      outcome,
      runsOn,
      phases: timeline.phases,
      downtimeMs: performed?.stats.downtimeMs ?? null,
      bytes: performed?.stats.bytes ?? transfer?.transferred ?? null,
      passes: performed?.stats.passes ?? transfer?.passes ?? null,
      totalTimeMs: performed?.stats.totalTimeMs ?? null,
      firstError: timeline.firstError,
      // Past the point of no return an abort changes nothing, but the report says it was asked.
      aborted: abortRequested || root.consideredCancelled,
      digests: { source: performed?.digest ?? null, destination: destinationDigest },
    } satisfies MigrationReport;
  }
}

class CompletionTimeout extends Error {
  override name = 'CompletionTimeout';
}

/** Keeps the destination's autokill lease alive while this workflow lives; returns how to stop it. */
function startKeepalive(migrationId: string, vm: string, ttlMs: number): () => void {
  // Detached from the workflow's own cancellation: past the point of no return an abort must not
  // starve the lease that Finish is about to claim. Only the returned stop function ends it.
  let scope!: CancellationScope;
  const running = CancellationScope.nonCancellable(() => {
    scope = new CancellationScope();
    return scope.run(() => keepalive(ttlMs).keepAutokill({ migrationId, vm, ttlMs }));
  });
  running.catch((err: unknown) => {
    if (!isCancellation(err)) {
      log.warn('autokill keepalive ended: the destination will kill the incoming guest', {
        migrationId,
        vm,
        error: describeFailure(err).message,
      });
    }
  });
  return () => scope.cancel();
}

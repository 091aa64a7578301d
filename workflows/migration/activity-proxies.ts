// The workflow's proxies of the migration's activities (activities/migration/ implements them),
// one per retry policy, bound to the host that runs each phase. Options follow libvirt's rules:
// Begin, Prepare and Perform run once (a failure leads to compensation, never a blind retry);
// Finish and Confirm are idempotent and retried until they land, because a guest must end up
// running somewhere; the cancelled Finish gives up after a while since autokill covers it.
// `pickupMs` (schedule-to-start) bounds how long a phase waits for an agent that is down: without
// it a migration to a dead host would wait in that host's task queue for ever.
import { proxyActivities, proxyLocalActivities } from '@temporalio/workflow';
import type { ControlActivities } from '../../activities/control.ts';
import type { DestinationActivities } from '../../activities/migration/destination.ts';
import type { SourceActivities } from '../../activities/migration/source.ts';
import { cancelledFinishGiveUpMs } from '../../protocol/migration.ts';
import { hostTaskQueue as queue } from '../../protocol/task-queues.ts';

/**
 * Every phase but Perform heartbeats each second while it runs (activities/migration/refuse.ts):
 * an agent that died holding a phase is noticed after this long, not at the phase's start-to-close.
 */
export const PHASE_HEARTBEAT_TIMEOUT_MS = 10_000;

export function sourceOnce(
  host: string,
  heartbeatTimeoutMs: number,
  startToCloseMs: number,
  pickupMs: number,
) {
  return proxyActivities<SourceActivities>({
    taskQueue: queue(host),
    scheduleToStartTimeout: pickupMs,
    startToCloseTimeout: startToCloseMs,
    heartbeatTimeout: heartbeatTimeoutMs,
    retry: { maximumAttempts: 1 },
    // An abort waits until the source has really cancelled QEMU's migration before compensating.
    cancellationType: 'WAIT_CANCELLATION_COMPLETED',
  });
}

/** Begin and the speed changes: short, once, no heartbeat (they do not report progress). */
export function sourceShort(host: string, pickupMs: number) {
  return proxyActivities<SourceActivities>({
    taskQueue: queue(host),
    scheduleToStartTimeout: pickupMs,
    startToCloseTimeout: '1 minute',
    heartbeatTimeout: PHASE_HEARTBEAT_TIMEOUT_MS,
    retry: { maximumAttempts: 1 },
  });
}

export function destinationOnce(host: string, pickupMs: number) {
  return proxyActivities<DestinationActivities>({
    taskQueue: queue(host),
    scheduleToStartTimeout: pickupMs,
    startToCloseTimeout: '2 minutes',
    heartbeatTimeout: PHASE_HEARTBEAT_TIMEOUT_MS,
    retry: { maximumAttempts: 1 },
  });
}

const untilDone = {
  initialInterval: '1 second',
  backoffCoefficient: 2,
  maximumInterval: '10 seconds',
  nonRetryableErrorTypes: ['MigrationRefused'],
};

export function sourceUntilDone(host: string) {
  return proxyActivities<SourceActivities>({
    taskQueue: queue(host),
    startToCloseTimeout: '2 minutes',
    heartbeatTimeout: PHASE_HEARTBEAT_TIMEOUT_MS,
    retry: untilDone,
  });
}

/**
 * Finish after a successful Perform. Each attempt waits at most `pickupMs` for the destination's
 * agent; a destination gone longer than that makes the source resume (Confirm cancelled), as
 * libvirt does when Finish cannot reach the destination. Until Finish runs, nobody else holds
 * the disks, so the source's lockstate is still good.
 */
export function destinationUntilDone(host: string, pickupMs: number) {
  return proxyActivities<DestinationActivities>({
    taskQueue: queue(host),
    scheduleToStartTimeout: pickupMs,
    startToCloseTimeout: '2 minutes',
    heartbeatTimeout: PHASE_HEARTBEAT_TIMEOUT_MS,
    retry: untilDone,
  });
}

/** Compensation on a destination that may be gone for good: its autokill lease lapses anyway. */
export function destinationForAWhile(host: string, autokillTtlMs: number) {
  return proxyActivities<DestinationActivities>({
    taskQueue: queue(host),
    startToCloseTimeout: '1 minute',
    heartbeatTimeout: PHASE_HEARTBEAT_TIMEOUT_MS,
    scheduleToCloseTimeout: cancelledFinishGiveUpMs(autokillTtlMs),
    retry: untilDone,
  });
}

/** The keepalive of the destination's autokill lease, on the controller's own task queue. */
export function keepalive(autokillTtlMs: number) {
  return proxyActivities<ControlActivities>({
    startToCloseTimeout: '1 day',
    heartbeatTimeout: Math.max(2000, Math.floor(autokillTtlMs / 3)),
    retry: { initialInterval: '500 milliseconds', maximumInterval: '2 seconds' },
  });
}

/**
 * The controller's own bookkeeping (the migration.ended event) as a local activity: it runs in
 * the controller that runs the workflow, and the workflow completes in the same workflow task,
 * where a remote activity cost two more round trips through Temporal on every migration.
 */
export function controlRecordLocal() {
  return proxyLocalActivities<ControlActivities>({
    startToCloseTimeout: '30 seconds',
    retry: { initialInterval: '1 second', maximumInterval: '10 seconds' },
  });
}

/** The same as a remote activity, as histories from before the local one recorded it. */
export function controlRecord() {
  return proxyActivities<ControlActivities>({
    startToCloseTimeout: '30 seconds',
    retry: { initialInterval: '1 second', maximumInterval: '10 seconds' },
  });
}

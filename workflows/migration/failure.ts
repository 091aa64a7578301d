// Turns what an activity threw into the type and one-line message the report keeps.
import { ActivityFailure, ApplicationFailure, isCancellation, TimeoutFailure } from '@temporalio/workflow';

export function describeFailure(err: unknown): { type: string; message: string } {
  if (isCancellation(err) && !(err instanceof ActivityFailure && err.cause instanceof TimeoutFailure)) {
    return { type: 'Aborted', message: 'aborted' };
  }
  let cause: unknown = err;
  while (cause instanceof ActivityFailure && cause.cause) cause = cause.cause;
  if (cause instanceof ApplicationFailure) return { type: cause.type ?? 'Error', message: cause.message };
  if (cause instanceof TimeoutFailure && cause.timeoutType === 'SCHEDULE_TO_START') {
    return {
      type: 'HostUnavailable',
      message:
        'its agent did not pick the phase up in time (schedule-to-start): the host is down or overloaded',
    };
  }
  if (cause instanceof TimeoutFailure) {
    return {
      type: 'Timeout',
      message: `no answer from the host (${String(cause.timeoutType).toLowerCase().replace(/_/g, '-')}): its agent is down or stuck`,
    };
  }
  if (cause instanceof Error) return { type: cause.name, message: cause.message };
  return { type: 'Error', message: String(cause) };
}

/** Details an activity attached to its failure (Finish hands back the lockstate it released). */
export function failureDetails<T>(err: unknown): T | undefined {
  let cause: unknown = err;
  while (cause instanceof ActivityFailure && cause.cause) cause = cause.cause;
  return cause instanceof ApplicationFailure ? (cause.details?.[0] as T | undefined) : undefined;
}

/** The activity timed out in its task queue: no worker ever ran it, so it changed nothing. */
export function neverStarted(err: unknown): boolean {
  return (
    err instanceof ActivityFailure &&
    err.cause instanceof TimeoutFailure &&
    err.cause.timeoutType === 'SCHEDULE_TO_START'
  );
}

/** The phase failed because its host did not answer (or it was aborted), not because the host refused. */
export function lostTheHost(type: string | undefined): boolean {
  return type === 'Timeout' || type === 'HostUnavailable' || type === 'Aborted';
}

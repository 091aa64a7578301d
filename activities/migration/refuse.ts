// How a phase says no. A FerryError (a refused cookie, a busy job, a held lease, short capacity)
// becomes a non-retryable ApplicationFailure whose type is the error's code, so the workflow
// compensates at once instead of retrying, and the report keeps the one-line reason.
import { ApplicationFailure, Context } from '@temporalio/activity';
import { ZodError } from 'zod';
import { FerryError } from '../../errors/ferry-error.ts';
import { heartbeatWhile } from '../heartbeat.ts';

export function refusal(err: unknown, details?: unknown): unknown {
  if (err instanceof ApplicationFailure) return err;
  if (err instanceof FerryError) {
    return ApplicationFailure.create({
      type: err.code,
      message: err.hint ? `${err.message} — ${err.hint}` : err.message,
      nonRetryable: true,
      cause: err,
      details: details === undefined ? undefined : [details],
    });
  }
  if (err instanceof ZodError) {
    return ApplicationFailure.create({ type: 'InvalidInput', message: err.message, nonRetryable: true });
  }
  return err;
}

/** A refusal this phase itself decides on. */
export function refuse(type: string, message: string, details?: unknown): ApplicationFailure {
  return ApplicationFailure.create({
    type,
    message,
    nonRetryable: true,
    details: details === undefined ? undefined : [details],
  });
}

/** How often a running phase tells Temporal its host is alive (see PHASE_HEARTBEAT_TIMEOUT_MS). */
export const PHASE_BEAT_MS = 1000;

/**
 * Runs a phase, turning the failures it expects into refusals. While it runs it heartbeats every
 * second (`beats: false` for a phase that heartbeats its own progress, Perform), so a phase handed
 * to an agent that then died is noticed at the heartbeat timeout, not after its whole
 * start-to-close timeout: a drill saw a Prepare go to a dead agent's last poll and the migration
 * wait 2 minutes for it.
 */
export async function asPhase<T>(run: () => Promise<T>, opts: { beats?: boolean } = {}): Promise<T> {
  const ctx = opts.beats === false ? undefined : currentContext();
  try {
    if (!ctx) return await run();
    ctx.heartbeat();
    return await heartbeatWhile(ctx, PHASE_BEAT_MS, () => undefined, run);
  } catch (err) {
    throw refusal(err);
  }
}

function currentContext(): Context | undefined {
  try {
    return Context.current();
  } catch {
    return undefined; // called outside an activity (a unit test)
  }
}

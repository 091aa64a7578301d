// How a phase says no. A FerryError (a refused cookie, a busy job, a held lease, short capacity)
// becomes a non-retryable ApplicationFailure whose type is the error's code, so the workflow
// compensates at once instead of retrying, and the report keeps the one-line reason.
import { ApplicationFailure } from '@temporalio/activity';
import { ZodError } from 'zod';
import { FerryError } from '../../errors/ferry-error.ts';

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

/** Runs a phase, turning the failures it expects into refusals. */
export async function asPhase<T>(run: () => Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (err) {
    throw refusal(err);
  }
}

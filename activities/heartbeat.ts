// Heartbeats that do not depend on the work making progress: an activity waiting on something
// else (a Redis restart, a guest) is still alive, and Temporal must not time the attempt out and
// retry it while this one still runs.
import type { Context } from '@temporalio/activity';

/** Runs `work`, heartbeating `details()` every `everyMs` until it settles. */
export async function heartbeatWhile<T>(
  ctx: Context,
  everyMs: number,
  details: () => unknown,
  work: () => Promise<T>,
): Promise<T> {
  const timer = setInterval(() => ctx.heartbeat(details()), everyMs);
  try {
    return await work();
  } finally {
    clearInterval(timer);
  }
}

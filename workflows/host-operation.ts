import { ApplicationFailure, proxyActivities } from '@temporalio/workflow';
import type { HostActivities } from '../activities/host.ts';

export type HostOperation = keyof HostActivities;

// Runs on the host's own task queue, so its activity runs on that host. Guest operations are not
// idempotent (a second start would be refused, a second kill finds nothing): one attempt only.
const activities = proxyActivities<HostActivities>({
  startToCloseTimeout: '2 minutes',
  retry: { maximumAttempts: 1 },
});

/** One guest operation on one host, durably recorded in Temporal like everything ferry does. */
export async function hostOperation(op: HostOperation, args: unknown[]): Promise<unknown> {
  const fn = activities[op] as ((...a: unknown[]) => Promise<unknown>) | undefined;
  if (!fn) throw ApplicationFailure.nonRetryable(`unknown host operation ${op}`, 'UnknownOperation');
  return fn(...args);
}

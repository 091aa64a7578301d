import { ApplicationFailure, patched, proxyActivities } from '@temporalio/workflow';
import type { HostActivities } from '../activities/host.ts';
import { HOST_OPERATIONS, isHostOperation, type HostOperation } from '../protocol/host-operations.ts';

const HOST_OPERATION_LIST = HOST_OPERATIONS.join(', ');

export type { HostOperation };

// Runs on the host's own task queue, so its activity runs on that host. Guest operations are not
// idempotent (a second start would be refused, a second kill finds nothing): one attempt only.
const activities = proxyActivities<HostActivities>({
  startToCloseTimeout: '2 minutes',
  retry: { maximumAttempts: 1 },
});

/** One guest operation on one host, durably recorded in Temporal like everything ferry does. */
export async function hostOperation(op: HostOperation, args: unknown[]): Promise<unknown> {
  // The activity proxy answers any name with a function, so the name is checked against the list;
  // before this check an unknown one was scheduled and failed on the agent (replayed as such).
  if (!isHostOperation(op) && patched('host-operation-known')) {
    throw ApplicationFailure.nonRetryable(
      `unknown host operation ${String(op)}: one of ${HOST_OPERATION_LIST}`,
      'UnknownOperation',
    );
  }
  const fn = activities[op] as (...a: unknown[]) => Promise<unknown>;
  return fn(...args);
}

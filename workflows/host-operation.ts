import { ApplicationFailure, patched, proxyActivities } from '@temporalio/workflow';
import type { HostActivities } from '../activities/host.ts';
import type { DestinationActivities } from '../activities/migration/destination.ts';
import type { SourceActivities } from '../activities/migration/source.ts';
import {
  HOST_OPERATIONS,
  isAgentOperation,
  PHASE_OPERATIONS,
  type AgentOperation,
  type HostOperation,
} from '../protocol/host-operations.ts';

const KNOWN = [...HOST_OPERATIONS, ...PHASE_OPERATIONS].join(', ');

export type { HostOperation };

// Runs on the host's own task queue, so its activity runs on that host. Guest operations are not
// idempotent (a second start would be refused, a second kill finds nothing): one attempt only.
const activities = proxyActivities<HostActivities & SourceActivities & DestinationActivities>({
  startToCloseTimeout: '2 minutes',
  retry: { maximumAttempts: 1 },
});

/**
 * One operation on one host (a guest operation, or a migration phase run alone), durably recorded
 * in Temporal like everything ferry does.
 */
export async function hostOperation(op: AgentOperation, args: unknown[]): Promise<unknown> {
  // The activity proxy answers any name with a function, so the name is checked against the list;
  // before this check an unknown one was scheduled and failed on the agent (replayed as such).
  if (!isAgentOperation(op) && patched('host-operation-known')) {
    throw ApplicationFailure.nonRetryable(
      `unknown host operation ${String(op)}: one of ${KNOWN}`,
      'UnknownOperation',
    );
  }
  const fn = activities[op] as (...a: unknown[]) => Promise<unknown>;
  return fn(...args);
}

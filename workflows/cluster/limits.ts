// Limits given to a workflow, checked there: a bad value fails the workflow with one line instead
// of failing its task over and over.
import { ApplicationFailure } from '@temporalio/workflow';
import { resolveLimits, type MigrationLimits } from '../../protocol/cluster.ts';

export function limitsOf(given: Partial<MigrationLimits> | undefined): MigrationLimits {
  try {
    return resolveLimits(given);
  } catch (err) {
    throw ApplicationFailure.nonRetryable((err as Error).message, 'InvalidInput');
  }
}

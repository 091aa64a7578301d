// Starting a drain or a rebalance on the controller, or attaching to the one already running: one
// drain per host and one rebalance at a time, each under a fixed workflow id, so a second
// `ferry drain HOST` follows the first instead of racing it.
import type { Client, WorkflowHandle } from '@temporalio/client';
import { WorkflowExecutionAlreadyStartedError } from '@temporalio/common';
import { CONTROL_TASK_QUEUE } from '../workers/controller/queue.ts';
import type { drain } from '../workflows/drain.ts';
import type { rebalance } from '../workflows/rebalance.ts';
import type { DrainInput, RebalanceInput } from '../protocol/cluster.ts';

export type ClusterOpHandle = WorkflowHandle<typeof drain> | WorkflowHandle<typeof rebalance>;

export const drainWorkflowId = (host: string) => `drain-${host}`;
export const REBALANCE_WORKFLOW_ID = 'rebalance';

/** Starts it, or returns the running one (`attached`) if its id is taken by a running workflow. */
export async function startOrAttach(
  client: Client,
  op: { type: 'drain'; input: DrainInput } | { type: 'rebalance'; input: RebalanceInput },
): Promise<{ handle: ClusterOpHandle; attached: boolean }> {
  const workflowId = op.type === 'drain' ? drainWorkflowId(op.input.host) : REBALANCE_WORKFLOW_ID;
  try {
    const handle =
      op.type === 'drain'
        ? await client.workflow.start<typeof drain>('drain', {
            taskQueue: CONTROL_TASK_QUEUE,
            workflowId,
            args: [op.input],
          })
        : await client.workflow.start<typeof rebalance>('rebalance', {
            taskQueue: CONTROL_TASK_QUEUE,
            workflowId,
            args: [op.input],
          });
    return { handle, attached: false };
  } catch (err) {
    if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err;
    return { handle: client.workflow.getHandle(workflowId), attached: true };
  }
}

/** Whether a workflow of this id is running now. */
export async function isRunning(client: Client, workflowId: string): Promise<boolean> {
  try {
    return (await client.workflow.getHandle(workflowId).describe()).status.name === 'RUNNING';
  } catch {
    return false;
  }
}

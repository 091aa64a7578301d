// Runs one guest operation on a host through Temporal (the hostOperation workflow on the host's
// task queue) and turns a failure into the one line its cause says.
import { randomUUID } from 'node:crypto';
import { WorkflowFailedError } from '@temporalio/client';
import type { HostActivities } from '../activities/host.ts';
import { FerryError } from '../errors/ferry-error.ts';
import { hostTaskQueue } from '../protocol/task-queues.ts';
import type { Config } from '../infra/config.ts';
import { connectClient } from '../infra/temporal/connect.ts';

export class HostOperationError extends FerryError {
  readonly code = 'HOST_OPERATION_FAILED';
}

export async function runHostOperation<K extends keyof HostActivities>(
  cfg: Config,
  host: string,
  op: K,
  ...args: Parameters<HostActivities[K]>
): Promise<Awaited<ReturnType<HostActivities[K]>>> {
  const client = await connectClient(cfg);
  try {
    return (await client.workflow.execute('hostOperation', {
      taskQueue: hostTaskQueue(host),
      workflowId: `host-op-${host}-${op}-${randomUUID().slice(0, 8)}`,
      args: [op, args],
      // A host whose agent is gone must not leave the command waiting forever.
      workflowExecutionTimeout: '3 minutes',
    })) as Awaited<ReturnType<HostActivities[K]>>;
  } catch (err) {
    if (err instanceof WorkflowFailedError) {
      let cause: unknown = err;
      while (cause instanceof Error && cause.cause) cause = cause.cause;
      throw new HostOperationError(`${op} on ${host} failed: ${(cause as Error).message}`, {
        hint: `the host agent's log is in the host's state dir (hosts/${host}/agent.log)`,
      });
    }
    throw err;
  } finally {
    await client.connection.close();
  }
}

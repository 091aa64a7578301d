// Whether today's workflow code still reproduces yesterday's decisions: Temporal's replayer run
// over the stored histories of 'migrate' workflows (as test/workflow-replay.test.ts does over the
// recorded fixtures). A history that no longer replays is a migration that would fail if its
// worker restarted on today's code while it ran, and a change to review before it ships.
import type { Client } from '@temporalio/client';
import type { HistoryAndWorkflowId } from '@temporalio/common';
import { Worker } from '@temporalio/worker';
import { workflowBundle } from '../infra/temporal/workflow-bundle.ts';

export interface HistoryReplay {
  replayed: number;
  failures: { workflowId: string; runId: string; error: string }[];
}

/**
 * Replays the stored 'migrate' histories: those of `ids` (the migrations an audit scoped to some
 * VMs saw), else every one Temporal keeps (started since `since`, if given).
 */
export async function replayMigrationHistories(
  client: Client,
  opts: { ids?: string[]; since?: Date } = {},
): Promise<HistoryReplay> {
  const histories = opts.ids ? byId(client, opts.ids) : listed(client, opts.since);
  const result: HistoryReplay = { replayed: 0, failures: [] };
  for await (const r of Worker.runReplayHistories(
    // The client's converter: with the keyring on, the histories' payloads are encrypted.
    {
      workflowBundle: await workflowBundle(),
      replayName: 'ferry-audit',
      dataConverter: client.options.dataConverter,
    },
    histories,
  )) {
    result.replayed++;
    if (r.error) {
      result.failures.push({ workflowId: r.workflowId, runId: r.runId, error: oneLine(r.error) });
    }
  }
  return result;
}

function listed(client: Client, since?: Date): AsyncIterable<HistoryAndWorkflowId> {
  const query = `WorkflowType = 'migrate'${since ? ` AND StartTime >= '${since.toISOString()}'` : ''}`;
  return client.workflow.list({ query }).intoHistories();
}

async function* byId(client: Client, ids: string[]): AsyncIterable<HistoryAndWorkflowId> {
  for (const workflowId of ids) {
    // A migration whose history Temporal no longer keeps (retention) is skipped, not failed.
    const history = await client.workflow
      .getHandle(workflowId)
      .fetchHistory()
      .catch(() => undefined);
    if (history) yield { workflowId, history };
  }
}

/** The core's failure is a Rust debug dump; the message inside it is what says why. */
function oneLine(err: Error): string {
  const inner = /message: "([^"]+)"/.exec(err.message)?.[1];
  const line = inner ?? err.message.split('\n')[0] ?? '';
  return `${err.name}: ${line.length > 300 ? `${line.slice(0, 300)}…` : line}`;
}

// Whether today's workflow code still reproduces yesterday's decisions: Temporal's replayer run
// over the stored histories of 'migrate' workflows (as test/workflow-replay.test.ts does over the
// recorded fixtures). A history that no longer replays is a migration that would fail if its
// worker restarted on today's code while it ran, and a change to review before it ships.
import { join } from 'node:path';
import type { Client } from '@temporalio/client';
import type { HistoryAndWorkflowId } from '@temporalio/common';
import { Worker } from '@temporalio/worker';

const WORKFLOWS = join(import.meta.dirname, '..', 'workflows', 'index.ts');

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
    { workflowsPath: WORKFLOWS, replayName: 'ferry-audit' },
    histories,
  )) {
    result.replayed++;
    if (r.error) {
      const message = r.error.message.split('\n')[0] ?? r.error.name;
      result.failures.push({
        workflowId: r.workflowId,
        runId: r.runId,
        error: `${r.error.name}: ${message}`,
      });
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

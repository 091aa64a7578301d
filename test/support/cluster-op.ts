// Driving a drain or a rebalance whose migrations hold before a phase (`holdBefore`), so a test
// can act at an exact point of each migration, and the check every such test ends with: each
// guest on exactly one host, no job or slot left.
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Client, WorkflowHandle } from '@temporalio/client';
import type { Redis } from 'ioredis';
import { JobStore } from '../../infra/redis/jobs.ts';
import { MigrationSlots } from '../../infra/redis/migration-slots.ts';
import type { TestCluster } from '../../lab/cluster.ts';
import type { ClusterOpReport, MoveView } from '../../protocol/cluster.ts';
import type { MigrationProgressView } from '../../protocol/migration.ts';
import { clusterOpProgress } from '../../workflows/cluster/messages.ts';
import type { drain } from '../../workflows/drain.ts';
import { progress, resume } from '../../workflows/migration/messages.ts';
import type { rebalance } from '../../workflows/rebalance.ts';

type ClusterOp = WorkflowHandle<typeof drain> | WorkflowHandle<typeof rebalance>;

/**
 * Follows the operation until it ends (at most `timeoutMs`): each time one of its migrations is
 * held, `decide` says whether to resume it now. Returns the operation's report.
 */
export async function steer(
  client: Client,
  handle: ClusterOp,
  decide: (move: MoveView, p: MigrationProgressView) => Promise<boolean>,
  timeoutMs = 180_000,
): Promise<ClusterOpReport> {
  let done = false;
  const result = handle.result().finally(() => (done = true));
  const deadline = Date.now() + timeoutMs;
  while (!done) {
    if (Date.now() > deadline) {
      await handle.terminate('the test gave up on it').catch(() => undefined);
      throw new Error(`${handle.workflowId} did not end within ${timeoutMs / 1000} s`);
    }
    // A query fails while its workflow completes, and a resume may reach a migration that just
    // ended: neither says anything the report does not, and the deadline bounds a query that
    // keeps failing.
    const view = await handle.query(clusterOpProgress).catch(() => undefined);
    for (const m of view?.guests ?? []) {
      if (m.state !== 'migrating' || !m.migrationId) continue;
      const child = client.workflow.getHandle(m.migrationId);
      const p = await child.query(progress).catch(() => undefined);
      if (p?.state === 'held' && (await decide(m, p))) await child.signal(resume).catch(() => undefined);
    }
    await Promise.race([result.catch(() => undefined), sleep(150)]);
  }
  return result;
}

/** Each guest of the report runs on exactly one host (where its outcome says), no job or slot left. */
export async function assertSettled(
  cluster: TestCluster,
  redis: Redis,
  taskQueue: string,
  report: ClusterOpReport,
): Promise<void> {
  const where = await cluster.whereabouts();
  for (const g of report.guests) {
    const expected = g.outcome === 'completed' ? g.to : g.from;
    assert.deepEqual(where.get(g.vm), [expected], `${g.vm} (${g.outcome}) runs on exactly ${expected}`);
  }
  const jobs = new JobStore(redis);
  for (const h of cluster.hosts) assert.deepEqual(await jobs.listForHost(h), [], `no job left on ${h}`);
  assert.deepEqual(await new MigrationSlots(redis, `ferry:${taskQueue}`).holders(), [], 'no slot held');
}

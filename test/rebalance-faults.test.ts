// Rebalances that meet trouble, against real agents on a controller of the test's own: cancelled
// half-way (what moved stays moved, the migrations in flight roll back, the rest never start) and
// a destination whose agent stops (its migration rolls back and the guest goes elsewhere). The
// migrations hold before a phase (`holdBefore`) so each fault lands at an exact point.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { WorkflowHandle } from '@temporalio/client';
import type { Redis } from 'ioredis';
import type { Config } from '../infra/config.ts';
import { createRedis } from '../infra/redis/client.ts';
import { startCluster, type GuestSpec, type TestCluster } from '../lab/cluster.ts';
import { startTestController, type TestController } from '../lab/migrate.ts';
import { realStack, uniqueName } from '../lab/stack.ts';
import type { RebalanceInput } from '../protocol/cluster.ts';
import { clusterOpProgress } from '../workflows/cluster/messages.ts';
import type { rebalance } from '../workflows/rebalance.ts';
import { assertSettled, steer } from './support/cluster-op.ts';

let cfg: Config;
let redis: Redis;
let ctl: TestController;
let cluster: TestCluster;

before(async () => {
  cfg = await realStack();
  redis = createRedis(cfg, 'test-rebalance-faults');
  cluster = await startCluster(cfg, redis, [
    { address: '127.0.0.165', memoryMiB: 512 },
    { address: '127.0.0.166', memoryMiB: 512 },
    { address: '127.0.0.167', memoryMiB: 1024 },
    { address: '127.0.0.168', memoryMiB: 1024 },
    { address: '127.0.0.169', memoryMiB: 1024 },
  ]);
  ctl = await startTestController(cfg);
});

after(async () => {
  await ctl?.stop();
  await cluster?.stop();
  redis?.disconnect();
});

function guests(count: number, memoryMiB: number): GuestSpec[] {
  const run = uniqueName('vm-rb');
  return Array.from({ length: count }, (_, i) => ({ vm: `${run}-${i}`, memoryMiB, dirtyRate: 100 }));
}

function startRebalance(input: RebalanceInput): Promise<WorkflowHandle<typeof rebalance>> {
  return ctl.client.workflow.start<typeof rebalance>('rebalance', {
    taskQueue: ctl.taskQueue,
    workflowId: uniqueName('rebalance'),
    args: [input],
  });
}

test('rebalance - cancelled half-way: what moved stays moved, the migrations in flight roll back, the rest never start', async () => {
  const [p, , x, y] = cluster.hosts as [string, string, string, string];
  // 8 × 32 MiB on 512 MiB is 50 %: under 25 % takes four moves.
  await cluster.startGuests(p, guests(8, 32));
  let first: string | undefined;
  let cancelled = false;
  const handle = await startRebalance({
    thresholdPct: 25,
    hosts: [p, x, y],
    limits: { cluster: 2, perSource: 2, perDestination: 1 },
    migration: { holdBefore: ['perform'] },
  });
  const report = await steer(ctl.client, handle, async (m) => {
    if (first === undefined) {
      first = m.vm; // the first one moves
      return true;
    }
    const view = await handle.query(clusterOpProgress);
    if (!cancelled && view.moved >= 1 && view.guests.filter((g) => g.state === 'migrating').length === 2) {
      // Two migrations stand before Perform, their incoming guests started: cancel now.
      cancelled = true;
      await handle.cancel();
    }
    return false;
  });
  assert.ok(cancelled, 'the rebalance was cancelled with two migrations held');
  assert.equal(report.cancelled, true);
  assert.equal(report.guests.length, 4, `four moves planned: ${JSON.stringify(report.guests)}`);
  assert.deepEqual([report.moved, report.failed, report.left], [1, 2, 1], JSON.stringify(report.guests));
  assert.equal(report.guests.find((g) => g.vm === first)?.outcome, 'completed');
  for (const g of report.guests.filter((r) => r.outcome === 'rolled-back')) {
    assert.deepEqual(
      g.attempts.map((a) => [a.outcome, a.error?.type]),
      [['rolled-back', 'Aborted']],
      `${g.vm}: aborted once, never retried`,
    );
  }
  const notStarted = report.guests.filter((g) => g.outcome === 'not-started');
  assert.equal(notStarted.length, 1);
  assert.deepEqual(notStarted[0]?.attempts, [], 'no migration started after the cancel');
  assert.deepEqual(report.stillOver, [p], 'one move of four leaves p above 25 %');
  await assertSettled(cluster, redis, ctl.taskQueue, report);
});

test('rebalance - a destination whose agent stops: its migration rolls back, the guest goes elsewhere, the host ends under the threshold', async () => {
  const [, q, , y, z] = cluster.hosts as [string, string, string, string, string];
  // 4 × 64 MiB on 512 MiB is 50 %: under 30 % takes two moves, one to y and one to z.
  await cluster.startGuests(q, guests(4, 64));
  let lost: string | undefined;
  const handle = await startRebalance({
    thresholdPct: 30,
    hosts: [q, y, z],
    limits: { cluster: 2, perSource: 2, perDestination: 1 },
    // A short lease, so the rollback's cancelled Finish to the stopped agent gives up after 12 s.
    migration: { holdBefore: ['prepare'], autokillTtlMs: 3000 },
  });
  const report = await steer(ctl.client, handle, async (m) => {
    if (lost === undefined && m.to === z) {
      lost = m.vm;
      await cluster.stopAgent(z); // its Prepare is dispatched to an agent that is gone
    }
    return true;
  });
  await cluster.startAgent(z);
  assert.ok(lost, 'a migration to z was held before Prepare');
  assert.deepEqual([report.moved, report.failed, report.left], [2, 0, 0], JSON.stringify(report.guests));
  const g = report.guests.find((r) => r.vm === lost)!;
  assert.deepEqual(
    g.attempts.map((a) => [a.to, a.outcome, a.error?.type ?? null]),
    [
      [z, 'rolled-back', 'DestinationDown'],
      [y, 'completed', null],
    ],
  );
  assert.deepEqual(report.stillOver, []);
  await assertSettled(cluster, redis, ctl.taskQueue, report);
});

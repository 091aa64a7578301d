// `ferry drain HOST --cancel` as an operator runs it from another terminal, against a drain that
// runs (on a controller of the test's own, under the id `ferry drain` gives it): the drain starts
// no new migration, the two in flight roll back, what moved stays moved, every guest runs on
// exactly one host. `ferry undrain` is refused while the drain runs and lifts the mark after.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { Redis } from 'ioredis';
import { drainWorkflowId } from '../cli/cluster-client.ts';
import type { Config } from '../infra/config.ts';
import { createRedis } from '../infra/redis/client.ts';
import { ferry } from '../lab/cli.ts';
import { smallGuests, startCluster, type TestCluster } from '../lab/cluster.ts';
import { startTestController, type TestController } from '../lab/migrate.ts';
import { realStack } from '../lab/stack.ts';
import { clusterOpProgress } from '../workflows/cluster/messages.ts';
import type { drain } from '../workflows/drain.ts';
import { assertSettled, steer } from './support/cluster-op.ts';

let cfg: Config;
let redis: Redis;
let ctl: TestController;
let cluster: TestCluster;

before(async () => {
  cfg = await realStack();
  redis = createRedis(cfg, 'test-drain-cancel');
  cluster = await startCluster(cfg, redis, [
    { address: '127.0.0.170', memoryMiB: 1024 },
    { address: '127.0.0.171', memoryMiB: 1024 },
    { address: '127.0.0.172', memoryMiB: 1024 },
  ]);
  ctl = await startTestController(cfg);
});

after(async () => {
  await ctl?.stop();
  await cluster?.stop();
  redis?.disconnect();
});

const oneLine = (r: { stderr: string }) => assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);

test('ferry drain --cancel - a running drain starts nothing more, its migrations in flight roll back, what moved stays; undrain waits for it', async () => {
  const [s, x, y] = cluster.hosts as [string, string, string];
  await cluster.startGuests(s, smallGuests(5, 'vm-dc'));
  const handle = await ctl.client.workflow.start<typeof drain>('drain', {
    taskQueue: ctl.taskQueue,
    workflowId: drainWorkflowId(s),
    args: [
      {
        host: s,
        destinations: [x, y],
        limits: { cluster: 2, perSource: 2, perDestination: 1 },
        migration: { holdBefore: ['perform'] },
      },
    ],
  });
  let first: string | undefined;
  let cancelled = false;
  const report = await steer(ctl.client, handle, async (m) => {
    if (first === undefined) {
      first = m.vm; // the first one moves
      return true;
    }
    const view = await handle.query(clusterOpProgress);
    if (!cancelled && view.moved >= 1 && view.guests.filter((g) => g.state === 'migrating').length === 2) {
      // Two migrations stand before Perform, their incoming guests started: cancel now.
      cancelled = true;
      const refused = await ferry('undrain', s);
      assert.equal(refused.status, 2, refused.stderr);
      assert.match(
        refused.stderr,
        new RegExp(`the drain of ${s} is still running .*ferry drain ${s} --cancel`),
      );
      oneLine(refused);
      const r = await ferry('drain', s, '--cancel');
      assert.equal(r.status, 0, r.stderr);
      assert.equal(
        r.stdout,
        `drain of ${s} cancelled: migrations in flight roll back, what moved stays moved\n`,
      );
    }
    return false;
  });
  assert.ok(cancelled, 'the drain was cancelled with two migrations held');
  assert.equal(report.cancelled, true);
  assert.deepEqual([report.moved, report.failed, report.left], [1, 2, 2], JSON.stringify(report.guests));
  assert.equal(report.guests.find((g) => g.vm === first)?.outcome, 'completed');
  for (const g of report.guests.filter((r) => r.outcome === 'rolled-back')) {
    assert.deepEqual(
      g.attempts.map((a) => [a.outcome, a.error?.type]),
      [['rolled-back', 'Aborted']],
      `${g.vm}: aborted once, never retried`,
    );
  }
  for (const g of report.guests.filter((r) => r.outcome === 'not-started')) {
    assert.deepEqual(g.attempts, [], `${g.vm}: no migration started after the cancel`);
  }
  await assertSettled(cluster, redis, ctl.taskQueue, report);

  const again = await ferry('drain', s, '--cancel');
  assert.equal(again.status, 2, again.stderr);
  assert.match(again.stderr, new RegExp(`no drain of ${s} is running`));
  oneLine(again);
  const undrain = await ferry('undrain', s);
  assert.equal(undrain.status, 0, undrain.stderr);
  assert.equal(undrain.stdout, `${s} takes new guests again\n`, 'the host stayed marked after the cancel');
});

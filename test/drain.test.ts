// Drains against real agents: 24 small guests from one host of four, under limits that the event
// log shows were never exceeded; and two drains at once sharing the cluster's limit.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { Redis } from 'ioredis';
import type { Config } from '../infra/config.ts';
import { createRedis } from '../infra/redis/client.ts';
import { JobStore } from '../infra/redis/jobs.ts';
import { MigrationSlots } from '../infra/redis/migration-slots.ts';
import { placementOf } from '../infra/redis/placement.ts';
import type { drain } from '../workflows/drain.ts';
import type { ClusterOpReport, DrainInput } from '../protocol/cluster.ts';
import { ferry } from '../lab/cli.ts';
import { smallGuests, startCluster, type TestCluster } from '../lab/cluster.ts';
import { startTestController, type TestController } from '../lab/migrate.ts';
import {
  migrationIntervals,
  peakConcurrency,
  type MigrationInterval,
} from './support/migration-intervals.ts';
import { realStack, uniqueName } from '../lab/stack.ts';

let cfg: Config;
let redis: Redis;
let ctl: TestController;
let cluster: TestCluster;

before(async () => {
  cfg = await realStack();
  redis = createRedis(cfg, 'test-drain');
  cluster = await startCluster(cfg, redis, [
    { address: '127.0.0.70', memoryMiB: 2048 },
    { address: '127.0.0.71', memoryMiB: 1536 },
    { address: '127.0.0.72', memoryMiB: 1536 },
    { address: '127.0.0.73', memoryMiB: 1536 },
    { address: '127.0.0.74', memoryMiB: 1024 },
  ]);
  ctl = await startTestController(cfg);
});

after(async () => {
  await ctl?.stop();
  await cluster?.stop();
  redis?.disconnect();
});

function runDrain(input: DrainInput): Promise<ClusterOpReport> {
  return ctl.client.workflow
    .start<typeof drain>('drain', {
      taskQueue: ctl.taskQueue,
      workflowId: uniqueName('drain'),
      args: [input],
    })
    .then((h) => h.result());
}

/** Nothing of the migrations is left: no job on any host, no slot held. */
async function assertNothingLeft(): Promise<void> {
  const jobs = new JobStore(redis);
  for (const h of cluster.hosts) assert.deepEqual(await jobs.listForHost(h), [], `no job left on ${h}`);
  assert.deepEqual(await new MigrationSlots(redis, `ferry:${ctl.taskQueue}`).holders(), [], 'no slot held');
}

function assertWithin(
  intervals: MigrationInterval[],
  limits: { cluster: number; perSource: number; perDestination: number },
) {
  const cluster = peakConcurrency(intervals, () => null).get('*')!;
  const perSource = Math.max(...peakConcurrency(intervals, (i) => i.source).values());
  const perDestination = Math.max(...peakConcurrency(intervals, (i) => i.destination).values());
  assert.ok(cluster <= limits.cluster, `at most ${limits.cluster} in the cluster at once, saw ${cluster}`);
  assert.ok(perSource <= limits.perSource, `at most ${limits.perSource} out of a host, saw ${perSource}`);
  assert.ok(
    perDestination <= limits.perDestination,
    `at most ${limits.perDestination} into a host, saw ${perDestination}`,
  );
  return { cluster, perSource, perDestination };
}

test('drain - 24 guests leave one host of four, never more migrations at once than the limits allow', async () => {
  const [a, b, c, d] = cluster.hosts as [string, string, string, string];
  const guests = smallGuests(24);
  await cluster.startGuests(a, guests);
  const limits = { cluster: 3, perSource: 3, perDestination: 1 };
  const started = Date.now();
  const report = await runDrain({ host: a, destinations: [b, c, d], limits });
  const seconds = (Date.now() - started) / 1000;

  assert.equal(report.host, a);
  assert.deepEqual([report.moved, report.failed, report.left, report.cancelled], [24, 0, 0, false]);
  assert.deepEqual(new Set(report.guests.map((g) => g.outcome)), new Set(['completed']));
  const where = await cluster.whereabouts();
  for (const g of guests) {
    const entry = report.guests.find((r) => r.vm === g.vm);
    assert.ok(entry?.to && [b, c, d].includes(entry.to), `${g.vm} went to ${entry?.to}`);
    assert.deepEqual(where.get(g.vm), [entry.to], `${g.vm} runs on exactly its destination`);
    assert.equal(await placementOf(redis, g.vm), entry.to);
  }
  await assertNothingLeft();

  // The record: every migration's interval from the event log, none beyond the limits.
  const ids = new Set(report.guests.flatMap((g) => g.attempts.map((t) => t.migrationId)));
  assert.equal(ids.size, 24);
  const intervals = await migrationIntervals(cfg, ids);
  const peaks = assertWithin(intervals, limits);
  assert.ok(peaks.cluster >= 2, `the drain ran migrations side by side (peak ${peaks.cluster})`);
  console.log(`# drained 24 guests in ${seconds.toFixed(1)} s, peaks ${JSON.stringify(peaks)}`);

  // A draining host gets nothing new.
  const r = await ferry('guest', 'start', uniqueName('vm'), '--host', a, '--memory', '32');
  assert.equal(r.status, 2);
  assert.match(r.stderr, /is draining/);
  assert.equal(r.stderr.trim().split('\n').length, 1);
});

test('drain - two drains at once share the cluster limit', async () => {
  const [, b, c, d, e] = cluster.hosts as [string, string, string, string, string];
  // b holds 8 guests from the first test; e gets 6 of its own.
  await cluster.startGuests(e, smallGuests(6, 'vm-e'));
  const limits = { cluster: 2, perSource: 2, perDestination: 2 };
  const [fromB, fromE] = await Promise.all([
    runDrain({ host: b, destinations: [c, d], limits }),
    runDrain({ host: e, destinations: [c, d], limits }),
  ]);
  for (const r of [fromB, fromE]) assert.deepEqual([r.failed, r.left], [0, 0], JSON.stringify(r.guests));
  assert.equal(fromE.moved, 6);
  assert.ok(fromB.moved >= 6, `b's guests moved: ${fromB.moved}`);
  const ids = new Set(
    [...fromB.guests, ...fromE.guests].flatMap((g) => g.attempts.map((t) => t.migrationId)),
  );
  const intervals = await migrationIntervals(cfg, ids);
  assertWithin(intervals, limits);
  await assertNothingLeft();
});

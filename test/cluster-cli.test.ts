// The cluster commands as an operator runs them, on the real controller (none runs before: the
// first drain starts it):
// `ferry status --json`, `ferry drain --json`, the drain mark and `ferry undrain`, `ferry rebalance
// --json`, and their one-line refusals.
// exclusive: starts and stops the operator's controller.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { Redis } from 'ioredis';
import type { Config } from '../infra/config.ts';
import { createRedis } from '../infra/redis/client.ts';
import { DEFAULT_PROMISE_LINGER_MS, MigrationSlots } from '../infra/redis/migration-slots.ts';
import { CONTROL_TASK_QUEUE, slotsPrefix } from '../workers/controller/queue.ts';
import type { ClusterStatus } from '../cli/status.ts';
import type { ClusterOpReport } from '../protocol/cluster.ts';
import { ferry } from '../lab/cli.ts';
import { assertControllerRuns, withoutController } from './support/controller.ts';
import { startCluster, type TestCluster } from '../lab/cluster.ts';
import { realStack, uniqueName } from '../lab/stack.ts';

let cfg: Config;
let redis: Redis;
let cluster: TestCluster;
let restoreController: (() => Promise<void>) | undefined;
const run = uniqueName('vm-cli');
const small = [0, 1, 2, 3].map((i) => ({ vm: `${run}-s${i}`, memoryMiB: 32 + 8 * i, dirtyRate: 100 * i }));
const big = [0, 1, 2, 3].map((i) => ({ vm: `${run}-b${i}`, memoryMiB: 64, dirtyRate: 0 }));

before(async () => {
  cfg = await realStack();
  redis = createRedis(cfg, 'test-cluster-cli');
  restoreController = await withoutController();
  cluster = await startCluster(cfg, redis, [
    { address: '127.0.0.85', memoryMiB: 1024 },
    { address: '127.0.0.86', memoryMiB: 1024 },
    { address: '127.0.0.87', memoryMiB: 512 },
  ]);
  const [p, , r] = cluster.hosts as [string, string, string];
  await cluster.startGuests(p, small);
  await cluster.startGuests(r, big);
});

after(async () => {
  await cluster?.stop();
  redis?.disconnect();
  await restoreController?.();
});

async function status(): Promise<ClusterStatus> {
  const r = await ferry('status', '--json');
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.stdout) as ClusterStatus;
}

test('ferry status --json - hosts with their load, guests with where, state and job', async () => {
  const [p, q, r] = cluster.hosts as [string, string, string];
  const s = await status();
  const hosts = new Map(s.hosts.map((h) => [h.name, h]));
  for (const h of [p, q, r]) assert.equal(hosts.get(h)?.up, true, `${h} is up`);
  assert.equal(hosts.get(r)?.loadPct, 50, 'r holds 4 × 64 MiB of 512');
  assert.equal(hosts.get(p)?.draining, null);
  for (const g of small) {
    const line = s.guests.find((x) => x.vm === g.vm);
    assert.deepEqual(
      [line?.host, line?.state, line?.memoryMiB, line?.job],
      [p, 'running', g.memoryMiB, null],
    );
  }
  assert.ok(Array.isArray(s.migrations) && Array.isArray(s.operations));
});

test('ferry drain --json - starts the controller when none runs; every guest moves, the host stays draining until ferry undrain', async () => {
  const [p, q] = cluster.hosts as [string, string, string];
  const r = await ferry('drain', p, '--to', q, '--json', '--per-source', '3');
  assert.equal(r.status, 0, r.stderr);
  await assertControllerRuns('ferry drain');
  const report = JSON.parse(r.stdout) as ClusterOpReport;
  assert.deepEqual([report.host, report.moved, report.failed], [p, 4, 0]);
  assert.deepEqual(
    report.guests.map((g) => [g.vm, g.to, g.outcome]).sort(),
    small.map((g) => [g.vm, q, 'completed']).sort(),
  );
  assert.deepEqual(report.limits, { cluster: 5, perSource: 3, perDestination: 2 });

  const s = await status();
  assert.equal(s.hosts.find((h) => h.name === p)?.draining, `drain-${p}`);
  for (const g of small) assert.equal(s.guests.find((x) => x.vm === g.vm)?.host, q);
  const refused = await ferry('guest', 'start', uniqueName('vm'), '--host', p, '--memory', '32');
  assert.equal(refused.status, 2);
  assert.match(refused.stderr, new RegExp(`host ${p} is draining .*ferry undrain ${p}`));

  const undrain = await ferry('undrain', p);
  assert.equal(undrain.status, 0, undrain.stderr);
  assert.match(undrain.stdout, /takes new guests again/);
  assert.equal((await status()).hosts.find((h) => h.name === p)?.draining, null);
});

test('ferry rebalance --json - the host above the threshold sheds guests to hosts that stay under it', async () => {
  const [p, q, r] = cluster.hosts as [string, string, string];
  // The drain's memory promises on q outlive its migrations by DEFAULT_PROMISE_LINGER_MS (they cover
  // the destination's registration until it counts the guests), and q's load counts both: right
  // after the drain, q would look 34 % full and shed a guest too. Wait until they lapsed.
  const slots = new MigrationSlots(redis, slotsPrefix(CONTROL_TASK_QUEUE));
  const lapsedBy = Date.now() + DEFAULT_PROMISE_LINGER_MS + 5000;
  while ((await slots.load([q])).get(q)?.promisedMiB) {
    assert.ok(Date.now() < lapsedBy, `q's promised memory never lapsed`);
    await new Promise((res) => setTimeout(res, 100));
  }
  const res = await ferry('rebalance', '--threshold', '30', '--hosts', [p, q, r].join(','), '--json');
  assert.equal(res.status, 0, res.stderr);
  const report = JSON.parse(res.stdout) as ClusterOpReport;
  // r: 256 of 512 MiB; under 30 % (153 MiB) takes two of its 64 MiB guests away.
  assert.deepEqual([report.kind, report.thresholdPct, report.moved, report.failed], ['rebalance', 30, 2, 0]);
  assert.deepEqual(report.stillOver, []);
  for (const g of report.guests) {
    assert.equal(g.from, r);
    assert.ok(g.to === p || g.to === q, `${g.vm} went to ${g.to}`);
  }
});

test('ferry drain and rebalance - refusals are one line', async () => {
  for (const [args, pattern] of [
    [['drain', 'no-such-host'], /host no-such-host is not up/],
    [['drain', 'h', '--max-migrations', '0'], /--max-migrations is at least 1/],
    [['drain', 'h', '--cancel'], /no drain of h is running/],
    [['rebalance', '--threshold', '120'], /up to 100/],
  ] as const) {
    const r = await ferry(...args);
    assert.equal(r.status, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, pattern);
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
  }
});

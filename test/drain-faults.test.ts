// Drains that meet trouble, against real agents: a destination that refuses, a destination whose
// agent stops mid-drain, and a drain cancelled half-way. The migrations hold before a phase
// (`holdBefore`) so each fault lands at an exact point of the protocol; the test resumes them.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type { WorkflowHandle } from '@temporalio/client';
import type { Redis } from 'ioredis';
import type { Config } from '../infra/config.ts';
import { createRedis } from '../infra/redis/client.ts';
import { DrainMarks } from '../infra/redis/draining.ts';
import { JobStore } from '../infra/redis/jobs.ts';
import { MigrationSlots } from '../infra/redis/migration-slots.ts';
import { clusterOpProgress } from '../workflows/cluster/messages.ts';
import type { ClusterOpReport, DrainInput, MoveView } from '../protocol/cluster.ts';
import type { drain } from '../workflows/drain.ts';
import { progress, resume } from '../workflows/migration/messages.ts';
import type { MigrationProgressView } from '../protocol/migration.ts';
import { smallGuests, startCluster, type TestCluster } from '../lab/cluster.ts';
import { startTestController, type TestController } from '../lab/migrate.ts';
import { realStack, uniqueName } from '../lab/stack.ts';

let cfg: Config;
let redis: Redis;
let ctl: TestController;
let cluster: TestCluster;

before(async () => {
  cfg = await realStack();
  redis = createRedis(cfg, 'test-drain-faults');
  cluster = await startCluster(cfg, redis, [
    { address: '127.0.0.80', memoryMiB: 1024 },
    { address: '127.0.0.81', memoryMiB: 1024 },
    { address: '127.0.0.82', memoryMiB: 1024 },
    { address: '127.0.0.83', memoryMiB: 1024 },
    { address: '127.0.0.84', memoryMiB: 1024 },
  ]);
  ctl = await startTestController(cfg);
});

after(async () => {
  await ctl?.stop();
  await cluster?.stop();
  redis?.disconnect();
});

function startDrain(input: DrainInput): Promise<WorkflowHandle<typeof drain>> {
  return ctl.client.workflow.start<typeof drain>('drain', {
    taskQueue: ctl.taskQueue,
    workflowId: uniqueName('drain'),
    args: [input],
  });
}

/**
 * Follows a drain whose migrations hold before a phase: each time one is held, `decide` says
 * whether to resume it now. Returns the drain's report.
 */
async function steer(
  handle: WorkflowHandle<typeof drain>,
  decide: (move: MoveView, p: MigrationProgressView) => Promise<boolean>,
): Promise<ClusterOpReport> {
  let done = false;
  const result = handle.result().finally(() => (done = true));
  while (!done) {
    const view = await handle.query(clusterOpProgress).catch(() => undefined);
    for (const m of view?.guests ?? []) {
      if (m.state !== 'migrating' || !m.migrationId) continue;
      const child = ctl.client.workflow.getHandle(m.migrationId);
      const p = await child.query(progress).catch(() => undefined);
      if (p?.state === 'held' && (await decide(m, p))) await child.signal(resume).catch(() => undefined);
    }
    await Promise.race([result.catch(() => undefined), sleep(150)]);
  }
  return result;
}

/** Each guest runs on exactly one host, with no job or slot left behind. */
async function assertSettled(report: ClusterOpReport, source: string): Promise<void> {
  const where = await cluster.whereabouts();
  for (const g of report.guests) {
    const expected = g.outcome === 'completed' ? g.to : source;
    assert.deepEqual(where.get(g.vm), [expected], `${g.vm} (${g.outcome}) runs on exactly ${expected}`);
  }
  const jobs = new JobStore(redis);
  for (const h of cluster.hosts) assert.deepEqual(await jobs.listForHost(h), [], `no job left on ${h}`);
  assert.deepEqual(await new MigrationSlots(redis, `ferry:${ctl.taskQueue}`).holders(), [], 'no slot held');
}

test('drain - a destination that refuses its guest (it started draining): rolled back, retried once elsewhere, the drain goes on', async () => {
  const [s, x, y] = cluster.hosts as [string, string, string];
  const guests = smallGuests(5, 'vm-refused');
  await cluster.startGuests(s, guests);
  let refused: string | undefined;
  const handle = await startDrain({
    host: s,
    destinations: [x, y],
    limits: { cluster: 2, perSource: 2, perDestination: 1 },
    migration: { holdBefore: ['prepare'] },
  });
  const report = await steer(handle, async (m) => {
    if (refused === undefined && m.to === x) {
      // Behind the drain's back: x starts draining after this guest was placed there.
      refused = m.vm;
      await new DrainMarks(redis).mark(x, 'test');
    }
    return true;
  });
  await new DrainMarks(redis).clear(x);
  assert.ok(refused, 'a migration to x was held before Prepare');
  assert.deepEqual([report.moved, report.failed, report.left], [5, 0, 0], JSON.stringify(report.guests));
  const g = report.guests.find((r) => r.vm === refused)!;
  assert.deepEqual(
    g.attempts.map((a) => [a.to, a.outcome, a.error?.phase ?? null, a.error?.type ?? null]),
    [
      [x, 'rolled-back', 'prepare', 'HostDraining'],
      [y, 'completed', null, null],
    ],
  );
  await assertSettled(report, s);
});

test('drain - a destination whose agent stops mid-drain: its migration is aborted, rolls back and goes elsewhere', async () => {
  const [, , y, z, w] = cluster.hosts as [string, string, string, string, string];
  const guests = smallGuests(3, 'vm-lost');
  await cluster.startGuests(w, guests);
  let lost: string | undefined;
  const handle = await startDrain({
    host: w,
    destinations: [y, z],
    limits: { cluster: 2, perSource: 2, perDestination: 1 },
    // A short lease, so the rollback's cancelled Finish to the stopped agent gives up after
    // max(10 s, 4 TTL) = 12 s instead of the default 60 s (protocol/migration.ts).
    migration: { holdBefore: ['prepare'], autokillTtlMs: 3000 },
  });
  const started = Date.now();
  const report = await steer(handle, async (m) => {
    if (lost === undefined && m.to === z) {
      lost = m.vm;
      await cluster.stopAgent(z); // its Prepare would wait for z's agent for ever
    }
    return true;
  });
  assert.ok(lost, 'a migration to z was held before Prepare');
  assert.deepEqual([report.moved, report.failed, report.left], [3, 0, 0], JSON.stringify(report.guests));
  const g = report.guests.find((r) => r.vm === lost)!;
  assert.deepEqual(
    g.attempts.map((a) => [a.to, a.outcome, a.error?.type ?? null]),
    [
      [z, 'rolled-back', 'DestinationDown'],
      [y, 'completed', null],
    ],
  );
  console.log(`# drain with a lost destination took ${((Date.now() - started) / 1000).toFixed(0)} s`);
  await cluster.startAgent(z);
  await assertSettled(report, w);
});

test('drain - cancelled half-way: what moved stays moved, migrations in flight roll back, the rest stay', async () => {
  const [s, x, y] = cluster.hosts as [string, string, string];
  await new DrainMarks(redis).clear(s); // drained by the first test: it takes guests again
  const guests = smallGuests(6, 'vm-cancel');
  await cluster.startGuests(s, guests);
  let resumed: string | undefined;
  const handle = await startDrain({
    host: s,
    destinations: [x, y],
    limits: { cluster: 2, perSource: 2, perDestination: 2 },
    migration: { holdBefore: ['perform'] },
  });
  let cancelled = false;
  const report = await steer(handle, async (m) => {
    if (resumed === undefined) {
      resumed = m.vm; // the first one moves
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
  assert.equal(report.cancelled, true);
  assert.equal(report.moved, 1, JSON.stringify(report.guests));
  assert.equal(report.guests.find((g) => g.vm === resumed)?.outcome, 'completed');
  const aborted = report.guests.filter((g) => g.outcome === 'rolled-back');
  assert.equal(aborted.length, 2, 'the two in flight rolled back');
  for (const g of aborted) {
    assert.equal(g.attempts.length, 1, 'an aborted migration is not retried');
    assert.equal(g.attempts[0]?.error?.type, 'Aborted');
  }
  assert.equal(report.left, 3);
  assert.ok(report.guests.filter((g) => g.outcome === 'not-started').every((g) => g.attempts.length === 0));
  await assertSettled(report, s);
});

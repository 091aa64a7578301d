// Redis restarted with its data lost, against a real Redis of this test's own (its own state dir
// and port, started and stopped by ferry's stack code by pid; Temporal and Kafka are the shared
// stack's): the agents notice (the epoch), re-assert the placements and disk leases of the guests
// they run, and a migration caught in the middle ends without two running copies or two holders.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import type { Redis } from 'ioredis';
import { redisDataLoss } from '../drills/redis-loss.ts';
import { runHostOperation } from '../cli/host-operation.ts';
import { EPOCH_KEY } from '../hosts/agent/redis-epoch.ts';
import { HostRegistry } from '../hosts/agent/registration.ts';
import { loadConfig, type Config } from '../infra/config.ts';
import { AutokillLeases } from '../infra/redis/autokill.ts';
import { createRedis } from '../infra/redis/client.ts';
import { DiskLeases, GENERATION_FLOOR } from '../infra/redis/disk-leases.ts';
import { placementOf } from '../infra/redis/placement.ts';
import { startService, stopService } from '../infra/stack/stack.ts';
import { resume } from '../workflows/migration/messages.ts';
import { startTestController, type TestController } from '../lab/migrate.ts';
import { ferryWithEnv } from '../lab/cli.ts';
import { faultTarget } from './support/drill-target.ts';
import { guestStatusOn } from '../lab/cluster-state.ts';
import { realStack, uniqueName } from '../lab/stack.ts';

const [hostA, hostB] = [uniqueName('host'), uniqueName('host')];
const hosts = [hostA, hostB];
const addressOf: Record<string, string> = { [hostA]: '127.0.3.11', [hostB]: '127.0.3.12' };
let env: Record<string, string>;
let cfg: Config;
let ctl: TestController;
let redis: Redis;
let stateDir: string;
let redisStarted = false;

/** `ferry ...` against this test's own Redis and state dir. */
const ferry = (...args: string[]) => ferryWithEnv(env, 240_000, ...args);

/** A free port below the ephemeral range (see docs/stack.md "Configuration"). */
async function freeLowPort(): Promise<number> {
  // Probed in an order seeded by this process's pid: two test processes start apart, and a run
  // can be repeated (no unseeded randomness).
  for (let i = 0; i < 50; i++) {
    const port = 20_000 + ((process.pid * 7919 + i * 104_729) % 10_000);
    const ok = await new Promise<boolean>((resolve) => {
      const s = createServer();
      s.once('error', () => resolve(false));
      s.listen(port, '127.0.0.1', () => s.close(() => resolve(true)));
    });
    if (ok) return port;
  }
  throw new Error('no free port in 20000-29999');
}

/**
 * Polls `get` until `ok` holds. A failed read is retried (Redis may be coming back) but never
 * judged by `ok`: only a value read can pass, and the last failure is in the deadline's message.
 */
const waitFor = async <T>(what: string, get: () => Promise<T>, ok: (v: T) => boolean, ms = 30_000) => {
  const deadline = Date.now() + ms;
  for (let last = 'nothing read'; ;) {
    try {
      const v = await get();
      if (ok(v)) return v;
      last = JSON.stringify(v);
    } catch (err) {
      last = `failed: ${(err as Error).message}`;
    }
    if (Date.now() > deadline) throw new Error(`never happened within ${ms} ms: ${what} (last: ${last})`);
    await new Promise((r) => setTimeout(r, 200));
  }
};

before(async () => {
  await realStack(); // Temporal and Kafka of the shared stack
  stateDir = mkdtempSync(join(tmpdir(), 'ferry-redis-loss-'));
  env = { FERRY_STATE_DIR: stateDir, FERRY_REDIS_PORT: String(await freeLowPort()) };
  cfg = loadConfig({ ...process.env, ...env });
  await startService(cfg, 'redis', () => undefined);
  redisStarted = true;
  redis = createRedis(cfg, 'test-redis-loss');
  for (const h of hosts) {
    const r = await ferry('host', 'start', h, '--address', addressOf[h]!, '--memory', '1024', '--detach');
    assert.equal(r.status, 0, r.stderr);
  }
  ctl = await startTestController(cfg);
});

after(async () => {
  await ctl?.stop();
  for (const h of hosts) {
    for (const g of (await runHostOperation(cfg, h, 'listGuests').catch(() => [])) as { vm: string }[]) {
      await runHostOperation(cfg, h, 'killGuest', g.vm, 'test cleanup').catch(() => undefined);
    }
    await ferry('host', 'stop', h);
  }
  redis?.disconnect();
  if (redisStarted) await stopService(cfg, 'redis', () => undefined);
  if (stateDir) rmSync(stateDir, { recursive: true, force: true });
});

const targetOf = (vm: string, migrationId: string) =>
  faultTarget('drill-redis-loss', { cfg, redis, source: hostA, destination: hostB }, vm, migrationId);

/** Where `vm` runs: every host whose agent has it, with its run state (an agent that does not answer fails it). */
async function copiesOf(vm: string): Promise<{ host: string; running: boolean }[]> {
  const found = [];
  for (const h of hosts) {
    const s = await guestStatusOn(cfg, h, vm);
    if (s) found.push({ host: h, running: s.running });
  }
  return found;
}

test('redis-loss - idle: the agents notice, and re-assert the placement and disk lease of the guest they run', async () => {
  const vm = uniqueName('vm');
  const r = await ferry('guest', 'start', vm, '--host', hostA, '--memory', '64');
  assert.equal(r.status, 0, r.stderr);
  const epoch = await redis.get(EPOCH_KEY);
  assert.ok(epoch, 'the agents set an epoch on first use');
  await redisDataLoss({ downMs: 500 }).inject(targetOf(vm, ''));
  await waitFor(
    'the disk lease is re-asserted',
    () => new DiskLeases(redis).holderOf(`${vm}-disk0`),
    (l) => l?.host === hostA,
  );
  assert.equal(await placementOf(redis, vm), hostA, 'the placement names the host that runs it');
  assert.notEqual(await redis.get(EPOCH_KEY), epoch, 'a new epoch');
  for (const h of hosts) {
    await waitFor(
      `${h} registered again`,
      () => new HostRegistry(redis).read(h),
      (reg) => reg !== undefined,
    );
  }
  assert.deepEqual(await copiesOf(vm), [{ host: hostA, running: true }]);
  await runHostOperation(cfg, hostA, 'killGuest', vm, 'test cleanup');
});

test('redis-loss - during Perform: the migration ends, one running copy at most, its disk lease with it, no lease left', async (t) => {
  const vm = uniqueName('vm');
  const r = await ferry('guest', 'start', vm, '--host', hostA, '--memory', '96', '--dirty-rate', '3000');
  assert.equal(r.status, 0, r.stderr);
  await new Promise((res) => setTimeout(res, 2000));
  const handle = await ctl.start({
    vm,
    source: hostA,
    destination: hostB,
    tunnelBandwidthMiBps: 8,
    heartbeatTimeoutMs: 3000,
  });
  await ctl.waitFor(handle, (p) => p.phase === 'perform' && (p.transfer?.transferred ?? 0) > 0);
  await redisDataLoss({ downMs: 500 }).inject(targetOf(vm, handle.workflowId));
  const report = await handle.result();
  t.diagnostic(`outcome ${report.outcome}, first error: ${JSON.stringify(report.firstError)}`);
  assert.ok(['completed', 'rolled-back'].includes(report.outcome), JSON.stringify(report));
  assert.ok(
    report.firstError || report.outcome === 'completed',
    'a rolled-back migration keeps its first error',
  );
  // One copy left, where the outcome says: completed, running on the destination; rolled back,
  // on the source (running, or paused if its lockstate went with the data).
  const copies = await waitFor(
    'the incoming guest is gone or took over',
    () => copiesOf(vm),
    (c) => c.length === 1,
  );
  if (report.outcome === 'completed') assert.deepEqual(copies, [{ host: hostB, running: true }]);
  else
    assert.equal(
      copies[0]!.host,
      hostA,
      `rolled back, the copy left is the source: ${JSON.stringify(copies)}`,
    );
  const running = copies.filter((c) => c.running);
  const lease = await waitFor(
    'the lease settles',
    () => new DiskLeases(redis).holderOf(`${vm}-disk0`),
    (l) => (running[0] ? l?.host === running[0].host : true),
  );
  if (running[0]) {
    assert.equal(lease?.host, running[0].host, 'the disk lease is with the running copy');
    // Taken again after the loss: above the generation floor, not at 1 again.
    const floor = Number(await redis.get(`ferry:${GENERATION_FLOOR}`));
    assert.ok(floor > 0 && (lease?.token ?? 0) > floor, `token ${lease?.token} above the floor ${floor}`);
  } else assert.ok(!lease || lease.host === copies[0]!.host, 'no other host holds the paused copy’s disk');
  assert.equal(await new AutokillLeases(redis).holder(vm), undefined, 'no autokill lease left');
  t.diagnostic(`copies after the loss: ${JSON.stringify(copies)}, lease: ${JSON.stringify(lease)}`);
});

test('redis-loss - after the switchover, before Finish: rolled back, the paused source stays paused and holds nothing', async (t) => {
  const vm = uniqueName('vm');
  const r = await ferry('guest', 'start', vm, '--host', hostA, '--memory', '64', '--dirty-rate', '500');
  assert.equal(r.status, 0, r.stderr);
  const handle = await ctl.start({ vm, source: hostA, destination: hostB, holdBefore: ['finish'] });
  await ctl.waitFor(handle, (p) => p.state === 'held', 120_000);
  assert.deepEqual(await copiesOf(vm), [
    { host: hostA, running: false },
    { host: hostB, running: false },
  ]);
  await redisDataLoss({ downMs: 500 }).inject(targetOf(vm, handle.workflowId));
  await handle.signal(resume);
  const report = await handle.result();
  t.diagnostic(`outcome ${report.outcome}, first error: ${JSON.stringify(report.firstError)}`);
  assert.equal(report.outcome, 'rolled-back', JSON.stringify(report));
  assert.equal(report.firstError?.phase, 'finish', JSON.stringify(report.firstError));
  // The incoming guest lost its autokill lease with the data: its host killed it.
  const copies = await waitFor(
    'one copy left',
    () => copiesOf(vm),
    (c) => c.length === 1,
  );
  assert.deepEqual(
    copies,
    [{ host: hostA, running: false }],
    'the source stays paused: its lockstate is gone',
  );
  // Give the source's agent a few heartbeats: it must not take a lease for a guest it cannot vouch for.
  await new Promise((res) => setTimeout(res, 5000));
  assert.equal(await new DiskLeases(redis).holderOf(`${vm}-disk0`), undefined, 'nobody holds its disk');
  assert.equal(await new AutokillLeases(redis).holder(vm), undefined, 'no autokill lease left');
  assert.deepEqual(await copiesOf(vm), [{ host: hostA, running: false }]);
  // The operator: it runs nowhere else, so resume it; its disk lease is taken first.
  const resumed = await ferry('guest', 'resume', vm, '--host', hostA);
  assert.equal(resumed.status, 0, resumed.stderr);
  assert.deepEqual(await copiesOf(vm), [{ host: hostA, running: true }]);
  assert.equal((await new DiskLeases(redis).holderOf(`${vm}-disk0`))?.host, hostA);
  assert.equal(await placementOf(redis, vm), hostA);
  await runHostOperation(cfg, hostA, 'killGuest', vm, 'test cleanup');
});

test('redis-loss - after Finish, before Confirm: completed, the destination keeps the VM and its lease, the paused source goes', async (t) => {
  const vm = uniqueName('vm');
  const r = await ferry('guest', 'start', vm, '--host', hostA, '--memory', '64', '--dirty-rate', '500');
  assert.equal(r.status, 0, r.stderr);
  const handle = await ctl.start({ vm, source: hostA, destination: hostB, holdBefore: ['confirm'] });
  await ctl.waitFor(handle, (p) => p.state === 'held', 120_000);
  await redisDataLoss({ downMs: 500 }).inject(targetOf(vm, handle.workflowId));
  // The destination re-asserts what its running guest holds before Confirm runs.
  await waitFor(
    'the destination re-asserts the lease',
    () => new DiskLeases(redis).holderOf(`${vm}-disk0`),
    (l) => l?.host === hostB,
  );
  await handle.signal(resume);
  const report = await handle.result();
  t.diagnostic(`outcome ${report.outcome}, first error: ${JSON.stringify(report.firstError)}`);
  assert.equal(report.outcome, 'completed', JSON.stringify(report));
  assert.deepEqual(await copiesOf(vm), [{ host: hostB, running: true }]);
  assert.equal((await new DiskLeases(redis).holderOf(`${vm}-disk0`))?.host, hostB);
  assert.equal(await placementOf(redis, vm), hostB);
  await runHostOperation(cfg, hostB, 'killGuest', vm, 'test cleanup');
});

// The network and stream faults of the drills against the real stack: two agents whose Redis,
// Temporal and data plane go through links the test controls (drills/links.ts), a busy guest, a
// migration on a controller of the test's own; each fault is injected through the Fault
// interface, and the end is checked as every migration test checks it (one running copy, no job
// or lease left, the disk lease with the guest, a first error where the fault was).
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, afterEach, before, test } from 'node:test';
import type { Redis } from 'ioredis';
import type { Fault } from '../drills/fault.ts';
import { openHostLinks, type HostLinks } from '../drills/links.ts';
import { partitionHost } from '../drills/partition.ts';
import { slowLink, streamCorrupt, streamCut } from '../drills/stream-faults.ts';
import { hostStateDir } from '../hosts/agent/identity.ts';
import { HostRegistry } from '../hosts/agent/registration.ts';
import { isSameProcessAlive, readLivePidFile } from '../infra/process/pid-file.ts';
import type { Config } from '../infra/config.ts';
import { createRedis } from '../infra/redis/client.ts';
import { resume } from '../workflows/migration/messages.ts';
import type { MigrateInput } from '../protocol/migration.ts';
import { ferry, ferryWithEnv } from '../lab/cli.ts';
import { assertSettled } from '../lab/cluster-state.ts';
import { startTestController, type TestController } from '../lab/migrate.ts';
import { faultTarget } from './support/drill-target.ts';
import { realStack, uniqueName } from '../lab/stack.ts';

const [hostA, hostB] = [uniqueName('host'), uniqueName('host')];
const hosts = [hostA, hostB];
const addressOf: Record<string, string> = { [hostA]: '127.0.3.1', [hostB]: '127.0.3.2' };
const links: Record<string, HostLinks> = {};
let cfg: Config;
let ctl: TestController;
let redis: Redis;

/** `ferry ...` with the environment of a host's links (its Redis and Temporal through proxies). */
const ferryWith = (env: Record<string, string>, ...args: string[]) => ferryWithEnv(env, 240_000, ...args);

const startHost = async (h: string) => {
  const l = links[h]!;
  const r = await ferryWith(
    l.env,
    ...['host', 'start', h, '--address', addressOf[h]!, '--memory', '1024', '--detach', ...l.agentArgs],
  );
  assert.equal(r.status, 0, r.stderr);
};

before(async () => {
  cfg = await realStack();
  redis = createRedis(cfg, 'test-drill-links');
  // The controller first: bundling its workflows holds this process (and so the links) for a second.
  ctl = await startTestController(cfg);
  for (const h of hosts) links[h] = await openHostLinks(cfg, addressOf[h]!, h);
  for (const h of hosts) await startHost(h);
});

/** The guests a test started; killed after it whatever its end, so a failed test leaves none behind. */
const guests = new Set<string>();
afterEach(async () => {
  for (const h of hosts) links[h]?.heal();
  for (const vm of guests) await ferry('guest', 'kill', vm);
  guests.clear();
});

after(async () => {
  for (const h of hosts) links[h]?.heal();
  await ctl?.stop();
  for (const h of hosts) await ferry('host', 'stop', h);
  for (const h of hosts) await links[h]?.close();
  redis?.disconnect();
});

/** A guest whose migration takes several seconds: much dirtied memory over a capped tunnel. */
async function busyGuest(): Promise<string> {
  const vm = uniqueName('vm');
  const r = await ferry('guest', 'start', vm, '--host', hostA, '--memory', '96', '--dirty-rate', '3000');
  assert.equal(r.status, 0, r.stderr);
  guests.add(vm);
  await new Promise((res) => setTimeout(res, 2000));
  return vm;
}

const targetOf = (vm: string, migrationId: string) =>
  faultTarget('drill-links', { cfg, redis, source: hostA, destination: hostB }, vm, migrationId);

/**
 * Starts the migration and injects the fault: a stream cut or corruption before the stream
 * starts (it fires on its offset); a slow link while the migration is held before Perform (so
 * the whole stream is slow, however fast this machine would otherwise finish it); another once
 * Perform moves bytes. Heals it after its delay.
 */
async function migrateUnder(fault: Fault, vm: string, input: Partial<MigrateInput> = {}) {
  const slow = fault.name === 'slow-link';
  const handle = await ctl.start({
    vm,
    source: hostA,
    destination: hostB,
    ...input,
    ...(slow ? { holdBefore: ['perform' as const] } : {}),
  });
  const target = targetOf(vm, handle.workflowId);
  if (fault.name === 'stream-cut' || fault.name === 'stream-corrupt') {
    await fault.inject(target);
  } else if (slow) {
    await ctl.waitFor(handle, (p) => p.state === 'held');
    await fault.inject(target);
    await handle.signal(resume);
  } else {
    await ctl.waitFor(handle, (p) => p.phase === 'perform' && (p.transfer?.transferred ?? 0) > 0);
    await fault.inject(target);
  }
  if (fault.heal) {
    await new Promise((r) => setTimeout(r, fault.healAfterMs ?? 0));
    await fault.heal(target);
  }
  return handle.result();
}

test('links - the agents reach Redis, Temporal and each other only through their links; a migration completes', async () => {
  const vm = await busyGuest();
  const streamed = links[hostB]!.dataPlane.bytesUp;
  const report = await ctl.run({ vm, source: hostA, destination: hostB, tunnelBandwidthMiBps: 32 });
  assert.equal(report.outcome, 'completed', JSON.stringify(report.firstError));
  assert.equal(report.digests.destination, report.digests.source);
  for (const h of hosts) {
    assert.ok(links[h]!.redis.accepted > 0, `${h} talks to Redis through its link`);
    assert.ok(links[h]!.temporal.accepted > 0, `${h} talks to Temporal through its link`);
    const reg = await new HostRegistry(redis).read(h);
    assert.equal(reg?.dataPort, links[h]!.dataPlane.address.port, `${h} advertises its link's port`);
  }
  // The stream the source reported (its savevm bytes) plus the tunnel's own framing.
  const passed = links[hostB]!.dataPlane.bytesUp - streamed;
  assert.ok(report.bytes, 'the source reported the bytes it sent');
  assert.ok(
    passed >= report.bytes,
    `the whole stream passed the destination link (${passed} of ${report.bytes} bytes)`,
  );
  await assertSettled(cfg, redis, vm, hosts, { runsOn: hostB });
});

/** The source guest's process as its pid file names it (pid and start time). */
const sourceProcess = (vm: string) =>
  readLivePidFile(join(hostStateDir(cfg.stateDir, hostA), 'guests', vm, 'guest.pid'));

/**
 * After a stream fault the migration rolled back and nothing of it is left: the guest runs on
 * the source as the same process (same pid and start time: resumed, not restarted), nothing of
 * it on the destination, no job or lease left; and with the link clean again it moves whole.
 * (Its digest is not compared: a running guest keeps writing its memory.)
 */
async function assertRolledBackWhole(vm: string, before: ReturnType<typeof sourceProcess>) {
  await assertSettled(cfg, redis, vm, hosts, { runsOn: hostA });
  const after = sourceProcess(vm);
  assert.ok(before && after, 'the source guest has a live pid file before and after');
  assert.deepEqual([after.pid, after.startTime], [before.pid, before.startTime], 'the same source process');
  const again = await ctl.run({ vm, source: hostA, destination: hostB, tunnelBandwidthMiBps: 32 });
  assert.equal(again.outcome, 'completed', JSON.stringify(again.firstError));
  assert.ok(again.digests.source, 'the source digested its memory at the stop');
  assert.equal(
    again.digests.destination,
    again.digests.source,
    'the destination has the memory the source had',
  );
  await assertSettled(cfg, redis, vm, hosts, { runsOn: hostB });
}

test('links - stream-cut at a seeded offset: rolled back at Perform, the same source guest keeps running and moves whole once healed', async (t) => {
  const vm = await busyGuest();
  const before = sourceProcess(vm);
  const fault = streamCut({ seed: 7 });
  t.diagnostic(`seed 7: cut after ${fault.offset} bytes of the tunnel connection`);
  const report = await migrateUnder(fault, vm, { tunnelBandwidthMiBps: 16 });
  t.diagnostic(`first error: ${JSON.stringify(report.firstError)}`);
  assert.equal(report.outcome, 'rolled-back');
  assert.equal(report.firstError?.phase, 'perform', JSON.stringify(report.firstError));
  await assertRolledBackWhole(vm, before);
});

/**
 * The flipped byte falls in a page of the final pass (sent after the source stopped, never sent
 * again) and in its data, not a record's header: the stream parses, and only the destination's
 * memory digest, compared with the source's at Finish, can tell. It must.
 */
test('links - stream-corrupt in a page of the final pass: rolled back at Finish (MemoryMismatch), the same source guest keeps running', async (t) => {
  const vm = await busyGuest();
  const before = sourceProcess(vm);
  const fault = streamCorrupt({ seed: 11 });
  const report = await migrateUnder(fault, vm, { tunnelBandwidthMiBps: 16 });
  const flip = fault.flipped();
  t.diagnostic(
    `seed ${fault.seed}: flipped ${JSON.stringify(flip)}; first error ${JSON.stringify(report.firstError)}`,
  );
  assert.equal(flip?.section, 'end', 'the flipped page is of the final pass');
  assert.equal(report.outcome, 'rolled-back', JSON.stringify(report.firstError));
  const { phase, host, type } = report.firstError ?? {};
  assert.deepEqual({ phase, host, type }, { phase: 'finish', host: hostB, type: 'MemoryMismatch' });
  await assertRolledBackWhole(vm, before);
});

test('links - slow-link healed: the migration completes with memory intact', async () => {
  const vm = await busyGuest();
  const report = await migrateUnder(slowLink({ bytesPerSecond: 2 * 1024 * 1024, healAfterMs: 5000 }), vm);
  assert.equal(report.outcome, 'completed', JSON.stringify(report.firstError));
  assert.equal(report.digests.destination, report.digests.source);
  // 5 s at 2 MiB/s before the heal: the migration cannot have ended sooner.
  assert.ok((report.totalTimeMs ?? 0) >= 5000, `Perform took the throttle's time (${report.totalTimeMs} ms)`);
  await assertSettled(cfg, redis, vm, hosts, { runsOn: hostB });
});

test('links - slow-link for good: no progress, cancelled and rolled back cleanly', async (t) => {
  const vm = await busyGuest();
  const report = await migrateUnder(slowLink({ bytesPerSecond: 256 * 1024, healAfterMs: null }), vm, {
    progressTimeoutMs: 4000,
  });
  links[hostB]!.dataPlane.throttle(null);
  t.diagnostic(`first error: ${JSON.stringify(report.firstError)}`);
  assert.equal(report.outcome, 'rolled-back', JSON.stringify(report));
  assert.equal(report.firstError?.phase, 'perform', JSON.stringify(report.firstError));
  assert.match(report.firstError?.message ?? '', /no progress/);
  await assertSettled(cfg, redis, vm, hosts, { runsOn: hostA });
});

test('links - partition-destination longer than the leases: its incoming guest dies by autokill on its own side, the source resumes', async (t) => {
  const vm = await busyGuest();
  const fault = partitionHost('destination');
  const handle = await ctl.start({
    vm,
    source: hostA,
    destination: hostB,
    tunnelBandwidthMiBps: 8,
    heartbeatTimeoutMs: 3000,
  });
  const target = targetOf(vm, handle.workflowId);
  await ctl.waitFor(handle, (p) => p.phase === 'perform' && (p.transfer?.transferred ?? 0) > 0);
  const incoming = readLivePidFile(join(hostStateDir(cfg.stateDir, hostB), 'guests', vm, 'guest.pid'));
  assert.ok(incoming, 'the incoming guest runs on the destination');
  await fault.inject(target);
  const partitionedAt = Date.now();
  // Cut off from Redis and Temporal, the destination must kill it on its own, before the heal.
  while (isSameProcessAlive(incoming) && Date.now() - partitionedAt < (fault.healAfterMs ?? 0)) {
    await new Promise((r) => setTimeout(r, 200));
  }
  const diedAfterMs = Date.now() - partitionedAt;
  assert.equal(isSameProcessAlive(incoming), false, 'the incoming guest died while its host was partitioned');
  t.diagnostic(`incoming guest killed ${diedAfterMs} ms into the partition`);
  // Its registration (6 s TTL) lapsed meanwhile: the cluster sees the host down.
  assert.equal(await new HostRegistry(redis).read(hostB), undefined, 'the partitioned host looks down');
  await new Promise((r) => setTimeout(r, Math.max(0, (fault.healAfterMs ?? 0) - diedAfterMs)));
  await fault.heal?.(target);
  const report = await handle.result();
  t.diagnostic(`first error: ${JSON.stringify(report.firstError)}`);
  assert.equal(report.outcome, 'rolled-back', JSON.stringify(report));
  assert.equal(report.firstError?.phase, 'perform', JSON.stringify(report.firstError));
  await assertSettled(cfg, redis, vm, hosts, { runsOn: hostA });
});

test('links - partition-source longer than the leases: rolled back, the source resumes its guest once healed', async (t) => {
  const vm = await busyGuest();
  const report = await migrateUnder(partitionHost('source'), vm, {
    tunnelBandwidthMiBps: 8,
    heartbeatTimeoutMs: 3000,
  });
  t.diagnostic(`first error: ${JSON.stringify(report.firstError)}`);
  assert.equal(report.outcome, 'rolled-back', JSON.stringify(report));
  assert.equal(report.firstError?.phase, 'perform', JSON.stringify(report.firstError));
  await assertSettled(cfg, redis, vm, hosts, { runsOn: hostA });
});

// The v3 workflow against real agents: a failure in each phase and an abort in each phase, each
// ending with the VM running on exactly one host, its memory intact and nothing left behind.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { Redis } from 'ioredis';
import { runHostOperation } from '../cli/host-operation.ts';
import type { Config } from '../infra/config.ts';
import { createRedis } from '../infra/redis/client.ts';
import { DiskLeases } from '../infra/redis/disk-leases.ts';
import { processStartTime } from '../infra/process/pid-file.ts';
import { resume } from '../workflows/migration/messages.ts';
import { ferry } from '../lab/cli.ts';
import { assertSettled } from '../lab/cluster-state.ts';
import { readEvents } from './support/events.ts';
import { startTestController, type TestController } from '../lab/migrate.ts';
import { realStack, uniqueName } from '../lab/stack.ts';

const [hostA, hostB, small] = [uniqueName('host'), uniqueName('host'), uniqueName('host')];
const hosts = [hostA, hostB, small];
let cfg: Config;
let ctl: TestController;
let redis: Redis;

before(async () => {
  cfg = await realStack();
  redis = createRedis(cfg, 'test-compensation');
  for (const [h, ip, mem] of [
    [hostA, '127.0.0.14', '1024'],
    [hostB, '127.0.0.15', '1024'],
    [small, '127.0.0.16', '64'],
  ] as const) {
    const r = await ferry('host', 'start', h, '--address', ip, '--memory', mem, '--detach');
    assert.equal(r.status, 0, r.stderr);
  }
  ctl = await startTestController(cfg);
});

after(async () => {
  await ctl?.stop();
  for (const h of hosts) await ferry('host', 'stop', h);
  redis?.disconnect();
});

/**
 * A guest on A. Its digest covers RAM and device state (its clock moves while it runs), so a guest
 * that stayed home proves its memory intact by being the same process, never restarted; one that
 * moved, by the digests at the stop and before the resume.
 */
async function idleGuest(dirtyRate = '0'): Promise<{ vm: string; sameProcess: () => boolean }> {
  const vm = uniqueName('vm');
  const r = await ferry('guest', 'start', vm, '--host', hostA, '--memory', '96', '--dirty-rate', dirtyRate);
  assert.equal(r.status, 0, r.stderr);
  const pid = Number(/pid (\d+)/.exec(r.stdout)?.[1]);
  const started = processStartTime(pid);
  return { vm, sameProcess: () => started !== undefined && processStartTime(pid) === started };
}

async function cleanUp(vm: string) {
  await ferry('guest', 'kill', vm);
}

test('migrate - the success path: completed, memory equal at both ends, nothing left behind', async () => {
  const { vm, sameProcess } = await idleGuest();
  const report = await ctl.run({ vm, source: hostA, destination: hostB });
  assert.equal(report.outcome, 'completed', JSON.stringify(report.firstError));
  assert.deepEqual(
    report.phases.map((p) => `${p.name}@${p.host === hostA ? 'A' : 'B'}:${p.result}`),
    ['begin@A:ok', 'prepare@B:ok', 'perform@A:ok', 'finish@B:ok', 'confirm@A:ok'],
  );
  assert.match(report.digests.source ?? '', /^[0-9a-f]{64}$/);
  assert.equal(report.digests.destination, report.digests.source);
  assert.equal(sameProcess(), false, 'the source guest is gone');
  await assertSettled(cfg, redis, vm, hosts, { runsOn: hostB });
  // The controller records how it ended; the agents, what each phase did.
  const story = await readEvents(
    cfg,
    (e) => e.migrationId === report.migrationId,
    (events) => events.some((e) => e.type === 'migration.ended'),
  );
  const ended = story.find((e) => e.type === 'migration.ended');
  assert.equal(ended?.type === 'migration.ended' && ended.data.outcome, 'completed');
  assert.deepEqual(
    // Each host ships its own events: across hosts the log order is arrival order, so compare sets.
    story.flatMap((e) => (e.type === 'migration.phase' ? [`${e.data.phase}@${e.data.side}`] : [])).sort(),
    ['begin@source', 'confirm@source', 'finish@destination', 'perform@source', 'prepare@destination'],
  );
  await cleanUp(vm);
});

test('migrate - Begin fails (the VM is not on the named source): nothing changes', async () => {
  const { vm, sameProcess } = await idleGuest();
  const report = await ctl.run({ vm, source: hostB, destination: small });
  assert.equal(report.outcome, 'rolled-back');
  assert.equal(report.firstError?.phase, 'begin');
  assert.match(report.firstError?.message ?? '', /no such guest/);
  assert.equal(report.runsOn, null, 'a refused Begin says nothing of where the VM runs');
  await assertSettled(cfg, redis, vm, hosts, { runsOn: hostA });
  assert.ok(sameProcess(), 'the source guest kept running in the same process');
  await cleanUp(vm);
});

test('migrate - Prepare fails (the destination is short of memory): Confirm resumes nothing it stopped', async () => {
  const { vm, sameProcess } = await idleGuest();
  const report = await ctl.run({ vm, source: hostA, destination: small });
  assert.equal(report.outcome, 'rolled-back');
  assert.deepEqual([report.firstError?.phase, report.firstError?.type], ['prepare', 'CapacityShort']);
  assert.deepEqual(
    report.phases.map((p) => `${p.name}:${p.mode}:${p.result}`),
    ['begin:normal:ok', 'prepare:normal:failed', 'finish:cancelled:ok', 'confirm:cancelled:ok'],
  );
  await assertSettled(cfg, redis, vm, hosts, { runsOn: hostA });
  assert.ok(sameProcess(), 'the source guest kept running in the same process');
  await cleanUp(vm);
});

test('migrate - Perform fails (completion timeout): the incoming guest is killed, the source resumes', async () => {
  const { vm, sameProcess } = await idleGuest('3000');
  const report = await ctl.run({
    vm,
    source: hostA,
    destination: hostB,
    tunnelBandwidthMiBps: 1,
    completionTimeoutPerGiBMs: 3000, // a 96 MiB guest gets the time of 1 GiB: 3 s
  });
  assert.equal(report.outcome, 'rolled-back');
  assert.deepEqual([report.firstError?.phase, report.firstError?.type], ['perform', 'CompletionTimeout']);
  assert.match(report.firstError?.message ?? '', /did not complete within 3 s/);
  assert.deepEqual(
    report.phases.slice(3).map((p) => `${p.name}:${p.mode}`),
    ['finish:cancelled', 'confirm:cancelled'],
  );
  await assertSettled(cfg, redis, vm, hosts, { runsOn: hostA });
  assert.ok(sameProcess(), 'the source guest kept running in the same process');
  await cleanUp(vm);
});

test('migrate - Finish fails (the disks were taken in between): the first error is kept and nobody runs the guest without its leases', async () => {
  const { vm } = await idleGuest();
  const handle = await ctl.start({ vm, source: hostA, destination: hostB, holdBefore: ['finish'] });
  await ctl.waitFor(handle, (p) => p.state === 'held');
  // A stale owner's lockstate must not work once someone acquired and released in between.
  const disks = new DiskLeases(redis);
  await disks.acquire({ host: 'intruder', vm }, [`${vm}-disk0`]);
  await disks.release({ host: 'intruder', vm }, [`${vm}-disk0`]);
  await handle.signal(resume);
  const report = await handle.result();
  assert.equal(report.outcome, 'failed', 'neither side may run the guest: the lockstate is stale');
  assert.deepEqual([report.firstError?.phase, report.firstError?.type], ['finish', 'LeaseRefused']);
  const confirm = report.phases.at(-1);
  assert.deepEqual([confirm?.name, confirm?.mode, confirm?.result], ['confirm', 'cancelled', 'failed']);
  // The source stays paused for the operator with its memory, the destination has nothing.
  await assertSettled(cfg, redis, vm, hosts, { runsOn: hostA, running: false });
  // Paused since the stop: its memory is still what the source had then.
  assert.equal((await runHostOperation(cfg, hostA, 'guestDigest', vm)).digest, report.digests.source);
  await cleanUp(vm);
});

test('migrate - Confirm waits for a source agent that is down, then completes', async () => {
  const { vm } = await idleGuest();
  const handle = await ctl.start({ vm, source: hostA, destination: hostB, holdBefore: ['confirm'] });
  await ctl.waitFor(handle, (p) => p.state === 'held');
  assert.equal((await ferry('host', 'stop', hostA)).status, 0);
  await handle.signal(resume);
  await new Promise((r) => setTimeout(r, 3000));
  const r = await ferry('host', 'start', hostA, '--address', '127.0.0.14', '--memory', '1024', '--detach');
  assert.equal(r.status, 0, r.stderr);
  const report = await handle.result();
  assert.equal(report.outcome, 'completed');
  assert.equal(report.digests.destination, report.digests.source);
  await assertSettled(cfg, redis, vm, hosts, { runsOn: hostB });
  await cleanUp(vm);
});

for (const phase of ['begin', 'prepare', 'perform', 'finish'] as const) {
  test(`migrate - abort before ${phase} rolls back`, async () => {
    const { vm, sameProcess } = await idleGuest();
    const handle = await ctl.start({ vm, source: hostA, destination: hostB, holdBefore: [phase] });
    await ctl.waitFor(handle, (p) => p.state === 'held');
    await handle.cancel();
    const report = await handle.result();
    assert.equal(report.outcome, 'rolled-back');
    assert.equal(report.aborted, true);
    assert.equal(report.firstError?.type, 'Aborted');
    await assertSettled(cfg, redis, vm, hosts, { runsOn: hostA });
    assert.ok(sameProcess(), 'the source guest kept running in the same process');
    await cleanUp(vm);
  });
}

test('migrate - abort during Perform cancels the stream and rolls back', async () => {
  const { vm, sameProcess } = await idleGuest('3000');
  const handle = await ctl.start({ vm, source: hostA, destination: hostB, tunnelBandwidthMiBps: 1 });
  await ctl.waitFor(handle, (p) => (p.transfer?.transferred ?? 0) > 0);
  await handle.cancel();
  const report = await handle.result();
  assert.equal(report.outcome, 'rolled-back');
  assert.deepEqual([report.firstError?.phase, report.firstError?.type], ['perform', 'Aborted']);
  await assertSettled(cfg, redis, vm, hosts, { runsOn: hostA });
  assert.ok(sameProcess(), 'the source guest kept running in the same process');
  await cleanUp(vm);
});

test('migrate - an abort after Finish began is too late: the migration completes and says it was asked', async () => {
  const { vm } = await idleGuest();
  const handle = await ctl.start({ vm, source: hostA, destination: hostB, holdBefore: ['confirm'] });
  await ctl.waitFor(handle, (p) => p.state === 'held');
  await handle.cancel();
  await handle.signal(resume);
  const report = await handle.result();
  assert.equal(report.outcome, 'completed');
  assert.equal(report.aborted, true);
  await assertSettled(cfg, redis, vm, hosts, { runsOn: hostB });
  await cleanUp(vm);
});

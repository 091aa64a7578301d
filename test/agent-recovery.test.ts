// The restarting agent's recovery switch (activities/migration/recovery.ts), one branch at a time, fast: a
// real migration on a controller of the test's own is held before a phase, so the job in Redis is
// at the phase the branch reads; the agent is SIGKILLed (where the job's last step happened, the
// test takes that step in Redis as the dead agent would have), restarted, and must do what its
// switch promises (forget, leave, kill) with the guest that is really there. Then the migration
// goes on and must end as the protocol says. The same switch settles a job whose workflow ended
// without Confirm (the orphan sweeper: a terminated workflow). The full drill matrix reaches these
// by timing.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import type { Redis } from 'ioredis';
import { readMemo } from '../activities/migration/source-memo.ts';
import { hostStateDir } from '../hosts/agent/identity.ts';
import type { Config } from '../infra/config.ts';
import { isSameProcessAlive, processStartTime, readLivePidFile } from '../infra/process/pid-file.ts';
import { AutokillLeases } from '../infra/redis/autokill.ts';
import { createRedis } from '../infra/redis/client.ts';
import { DiskLeases } from '../infra/redis/disk-leases.ts';
import { JobStore } from '../infra/redis/jobs.ts';
import { resume } from '../workflows/migration/messages.ts';
import type { PhaseName } from '../protocol/phases.ts';
import { twoAgents, type TwoAgents } from '../lab/agents.ts';
import { assertSettled, guestStatusOn } from '../lab/cluster-state.ts';
import { startTestController, type TestController } from '../lab/migrate.ts';
import { realStack, uniqueName } from '../lab/stack.ts';
import { readEvents } from './support/events.ts';

let cfg: Config;
let redis: Redis;
let jobs: JobStore;
let ctl: TestController;
let agents: TwoAgents;

before(async () => {
  cfg = await realStack();
  redis = createRedis(cfg, 'test-agent-recovery');
  jobs = new JobStore(redis);
  agents = await twoAgents(cfg, ['127.0.0.162', '127.0.0.163'], { memoryMiB: 512 });
  ctl = await startTestController(cfg);
});

after(async () => {
  await ctl?.stop();
  await agents?.stop();
  redis?.disconnect();
});

/**
 * A guest on the source, a migration of it held before `phase`; the guest's process, to follow.
 * `autokillTtlMs`: how long the incoming guest outlives its lease's keepalive (a destination
 * agent that is killed and restarted must be back well within it, on a loaded machine too).
 */
async function heldBefore(phase: PhaseName, autokillTtlMs?: number) {
  const vm = uniqueName('vm');
  const pid = await agents.startGuest(vm, '--memory', '32', '--dirty-rate', '200');
  const started = processStartTime(pid);
  const { source, destination } = agents;
  const handle = await ctl.start({
    vm,
    source,
    destination,
    holdBefore: [phase],
    ...(autokillTtlMs ? { autokillTtlMs } : {}),
  });
  await ctl.waitFor(handle, (p) => p.state === 'held');
  return {
    vm,
    handle,
    migrationId: handle.workflowId,
    sameProcess: () => started !== undefined && processStartTime(pid) === started,
  };
}

async function killAgent(host: string): Promise<void> {
  const agent = readLivePidFile(join(hostStateDir(cfg.stateDir, host), 'agent.pid'));
  assert.ok(agent, `the agent of ${host} runs`);
  process.kill(agent.pid, 'SIGKILL');
  const deadline = Date.now() + 10_000;
  while (isSameProcessAlive(agent)) {
    assert.ok(Date.now() < deadline, `the agent of ${host} outlived SIGKILL by 10 s`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/**
 * The decision the restarted agent recorded for this migration (its `recovery` phase event). The
 * tests start reading at once and look at it last: reading the log overlaps the migration's end.
 */
async function recoveryOf(migrationId: string): Promise<string> {
  const recovered = (e: { type: string; migrationId: string | null; data: unknown }) =>
    e.type === 'migration.phase' &&
    e.migrationId === migrationId &&
    (e.data as { mode?: string }).mode === 'recovery';
  const events = await readEvents(cfg, recovered, (es) => es.length > 0);
  assert.equal(events.length, 1, `one recovery event for ${migrationId}`);
  return (events[0]!.data as { detail: string }).detail;
}

/**
 * The orphan sweeper's decisions for this migration, until one is `final` (it decides again every
 * sweep while it leaves the job to a controller whose lease still lives).
 */
async function sweptTo(migrationId: string, final: string): Promise<string[]> {
  const swept = (e: { type: string; migrationId: string | null; data: unknown }) =>
    e.type === 'migration.phase' &&
    e.migrationId === migrationId &&
    (e.data as { mode?: string }).mode === 'recovery';
  const detail = (e: { data: unknown }) => (e.data as { detail: string }).detail;
  const events = await readEvents(cfg, swept, (es) => es.some((e) => detail(e) === final), 60_000);
  return events.map(detail);
}

/** Waits (at most 60 s) until the source's job is gone: settled by its agent's orphan sweeper. */
async function waitJobGone(vm: string, host: string): Promise<void> {
  const deadline = Date.now() + 60_000;
  while (await jobs.get(vm, host)) {
    assert.ok(Date.now() < deadline, `the job of ${vm} on ${host} was never settled`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

const guestStatus = (host: string, vm: string) => guestStatusOn(cfg, host, vm);

test('agent recovery - begin3: the source forgets the job, the guest runs on untouched, Perform then finds no job and the migration rolls back', async () => {
  const { source, destination } = agents;
  const { vm, handle, migrationId, sameProcess } = await heldBefore('prepare');
  assert.equal((await jobs.get(vm, source))?.phase, 'begin3');
  await killAgent(source);
  await agents.start(source);
  const decision = recoveryOf(migrationId);
  assert.equal(await jobs.get(vm, source), undefined, 'the job is gone');
  assert.equal((await guestStatus(source, vm))?.running, true);

  await handle.signal(resume);
  const report = await handle.result();
  assert.equal(report.outcome, 'rolled-back', JSON.stringify(report.firstError));
  assert.equal(report.firstError?.phase, 'perform');
  await assertSettled(cfg, redis, vm, [source, destination], { runsOn: source });
  assert.ok(sameProcess(), 'the source guest kept running in the same process');
  assert.equal(await decision, 'agent restarted in begin3: forgotten');
});

test('agent recovery - perform3_done: the paused source is left to the controller, whose Finish and Confirm then complete', async () => {
  const { source, destination } = agents;
  const { vm, handle, migrationId } = await heldBefore('finish');
  assert.equal((await jobs.get(vm, source))?.phase, 'perform3_done');
  await killAgent(source);
  await agents.start(source);
  const decision = recoveryOf(migrationId);
  const job = await jobs.get(vm, source);
  assert.deepEqual([job?.phase, job?.owner], ['perform3_done', migrationId], 'the job stays as it was');
  assert.equal((await guestStatus(source, vm))?.running, false, 'the source stays paused');

  await handle.signal(resume);
  const report = await handle.result();
  assert.equal(report.outcome, 'completed', JSON.stringify(report.firstError));
  assert.equal(report.digests.destination, report.digests.source);
  await assertSettled(cfg, redis, vm, [source, destination], { runsOn: destination });
  assert.equal(await decision, 'agent restarted in perform3_done: left to the controller');
});

test('agent recovery - confirm3: Confirm had begun, so the restarted source kills its guest; the retried Confirm finds nothing left and the migration completes', async () => {
  const { source, destination } = agents;
  const { vm, handle, migrationId, sameProcess } = await heldBefore('confirm');
  await killAgent(source);
  // srcConfirm's first step, as the dead agent would have taken it before killing the guest.
  await jobs.startPhase({ vm, host: source, job: 'MIGRATION_OUT', owner: migrationId, phase: 'confirm3' });
  assert.ok(sameProcess(), 'the paused source guest outlives its agent');
  await agents.start(source);
  const decision = recoveryOf(migrationId);
  assert.equal(sameProcess(), false, 'the source guest was killed');
  assert.equal(await jobs.get(vm, source), undefined, 'the job is gone');

  await handle.signal(resume);
  const report = await handle.result();
  assert.equal(report.outcome, 'completed', JSON.stringify(report.firstError));
  assert.equal(report.digests.destination, report.digests.source);
  await assertSettled(cfg, redis, vm, [source, destination], { runsOn: destination });
  assert.equal(await decision, 'agent restarted in confirm3: killed');
});

test('agent recovery - an incoming guest whose Finish had taken the disk leases is left to the controller, and the retried Finish completes', async () => {
  const { source, destination } = agents;
  const { vm, handle, migrationId } = await heldBefore('finish', 45_000);
  assert.equal((await jobs.get(vm, destination))?.phase, 'prepare');
  await killAgent(destination);
  // dstFinish's steps up to the resume, as the dead agent would have taken them: the phase, the
  // autokill lease claimed, the disks taken with the source's lockstate from its Perform.
  const owner = { vm, host: destination, job: 'MIGRATION_IN' as const, owner: migrationId };
  await jobs.startPhase({ ...owner, phase: 'finish3' });
  assert.ok(await new AutokillLeases(redis).claim({ vm, owner: migrationId }), 'the lease is still ours');
  const memo = readMemo((await jobs.get(vm, source))?.sourceMemo ?? null);
  assert.ok(memo.lockstate, "the source's Perform released its disks with a lockstate");
  await new DiskLeases(redis).acquire({ host: destination, vm }, [`${vm}-disk0`], memo.lockstate);
  await agents.start(destination);
  const decision = recoveryOf(migrationId);
  assert.equal((await jobs.get(vm, destination))?.phase, 'finish3', 'the job stays for the retry');
  assert.ok(await guestStatus(destination, vm), 'the incoming guest is still there');

  await handle.signal(resume);
  const report = await handle.result();
  assert.equal(report.outcome, 'completed', JSON.stringify(report.firstError));
  assert.equal(report.digests.destination, report.digests.source);
  await assertSettled(cfg, redis, vm, [source, destination], { runsOn: destination });
  assert.equal(await decision, 'agent restarted in finish3: left to the controller');
});

test('agent recovery - perform3_done, its workflow gone after Finish: the sweeper kills the paused source, the VM runs on the destination alone', async () => {
  const { source, destination } = agents;
  const { vm, handle, migrationId, sameProcess } = await heldBefore('confirm');
  assert.equal((await jobs.get(vm, source))?.phase, 'perform3_done');
  await handle.terminate('test: the controller is gone before Confirm');
  const decisions = sweptTo(migrationId, 'agent restarted in perform3_done: killed');
  await waitJobGone(vm, source);
  assert.equal(sameProcess(), false, 'the paused source guest was killed');
  await assertSettled(cfg, redis, vm, [source, destination], { runsOn: destination });
  assert.deepEqual(await decisions, ['agent restarted in perform3_done: killed']);
});

test('agent recovery - perform3_done, its workflow gone before Finish: once the incoming guest’s lease lapsed, the sweeper resumes the source', async () => {
  const { source, destination } = agents;
  const { vm, handle, migrationId, sameProcess } = await heldBefore('finish', 3000);
  assert.equal((await guestStatus(source, vm))?.running, false, 'paused since the switchover');
  await handle.terminate('test: the controller is gone before Finish');
  const decisions = sweptTo(migrationId, 'agent restarted in perform3_done: resumed');
  await waitJobGone(vm, source);
  await assertSettled(cfg, redis, vm, [source, destination], { runsOn: source });
  assert.ok(sameProcess(), 'the source guest runs on in the same process');
  // While the lease lived, the sweeper left the job to the controller; then it resumed, once.
  const seen = await decisions;
  assert.equal(seen.at(-1), 'agent restarted in perform3_done: resumed');
  assert.ok(
    seen.slice(0, -1).every((d) => d === 'agent restarted in perform3_done: left to the controller'),
    seen.join('; '),
  );
});

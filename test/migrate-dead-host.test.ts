// A migration whose source or destination agent is down never waits for it for ever: a phase not
// picked up within the pickup timeout (schedule-to-start) ends the migration rolled back, with
// HostUnavailable as its first error, and the compensation skips what the dead host never did.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import type { Redis } from 'ioredis';
import { hostStateDir } from '../hosts/agent/identity.ts';
import type { Config } from '../infra/config.ts';
import { readLivePidFile } from '../infra/process/pid-file.ts';
import { createRedis } from '../infra/redis/client.ts';
import { PHASE_HEARTBEAT_TIMEOUT_MS } from '../workflows/migration/activity-proxies.ts';
import { resume } from '../workflows/migration/messages.ts';
import type { MigrationReport } from '../protocol/migration.ts';
import { twoAgents, type TwoAgents } from '../lab/agents.ts';
import { ferry } from '../lab/cli.ts';
import { assertSettled } from '../lab/cluster-state.ts';
import { startTestController, type TestController } from '../lab/migrate.ts';
import { realStack, uniqueName } from '../lab/stack.ts';

let cfg: Config;
let redis: Redis;
let agents: TwoAgents;
let ctl: TestController;

before(async () => {
  cfg = await realStack();
  redis = createRedis(cfg, 'test-dead-host');
  agents = await twoAgents(cfg, ['127.0.0.23', '127.0.0.24']);
  ctl = await startTestController(cfg);
});

after(async () => {
  await ctl?.stop();
  await agents?.stop();
  redis?.disconnect();
});

const phasesOf = (r: { phases: { name: string; mode: string; result: string }[] }) =>
  r.phases.map((p) => `${p.name}/${p.mode}/${p.result}`);

async function stopAgent(host: string): Promise<void> {
  const r = await ferry('host', 'stop', host);
  assert.equal(r.status, 0, r.stderr);
}

/** Migrates a fresh guest while `down`'s agent is stopped; starts it again, checks the VM stayed. */
async function migrateWhileDown(down: string): Promise<MigrationReport> {
  const vm = uniqueName('vm');
  await agents.startGuest(vm, '--memory', '48');
  await stopAgent(down);
  let report: MigrationReport;
  try {
    report = await ctl.run({
      vm,
      source: agents.source,
      destination: agents.destination,
      hostPickupTimeoutMs: 2000,
    });
  } finally {
    await agents.start(down);
  }
  assert.equal(report.outcome, 'rolled-back');
  await assertSettled(cfg, redis, vm, [agents.source, agents.destination], { runsOn: agents.source });
  return report;
}

test('migrate - the destination is down: Prepare is not picked up, rolled back without a cancelled Finish', async () => {
  const report = await migrateWhileDown(agents.destination);
  assert.deepEqual(
    [report.firstError?.phase, report.firstError?.host, report.firstError?.type],
    ['prepare', agents.destination, 'HostUnavailable'],
  );
  assert.deepEqual(phasesOf(report), ['begin/normal/ok', 'prepare/normal/failed', 'confirm/cancelled/ok']);
  assert.equal(report.runsOn, agents.source);
});

test('migrate - the source is down: Begin is not picked up, nothing to undo, the guest stays', async () => {
  const report = await migrateWhileDown(agents.source);
  assert.deepEqual([report.firstError?.phase, report.firstError?.type], ['begin', 'HostUnavailable']);
  assert.deepEqual(phasesOf(report), ['begin/normal/failed']);
});

test('migrate - the destination goes down after Perform: Finish is not picked up, the source resumes, the restarted destination drops its incoming guest', async () => {
  const vm = uniqueName('vm');
  await agents.startGuest(vm, '--memory', '48', '--dirty-rate', '200');
  const handle = await ctl.start({
    vm,
    source: agents.source,
    destination: agents.destination,
    holdBefore: ['finish'],
    autokillTtlMs: 2000,
    hostPickupTimeoutMs: 2000,
  });
  await ctl.waitFor(handle, (p) => p.state === 'held');
  await stopAgent(agents.destination);
  try {
    await handle.signal(resume);
    const report = await handle.result();
    assert.equal(report.outcome, 'rolled-back', JSON.stringify(report.firstError));
    assert.deepEqual([report.firstError?.phase, report.firstError?.type], ['finish', 'HostUnavailable']);
    assert.deepEqual(phasesOf(report).slice(-2), ['finish/normal/failed', 'confirm/cancelled/ok']);
    assert.equal(report.runsOn, agents.source);
  } finally {
    await agents.start(agents.destination);
  }
  // The incoming guest outlived its agent; the restarted agent's recovery (or its reaper) kills it.
  const deadline = Date.now() + 30_000;
  for (;;) {
    try {
      await assertSettled(cfg, redis, vm, [agents.source, agents.destination], { runsOn: agents.source });
      break;
    } catch (err) {
      if (Date.now() > deadline) throw err;
      await new Promise((r) => setTimeout(r, 500));
    }
  }
});

test('migrate - the destination agent freezes mid-Prepare (SIGSTOP): its heartbeat stops, Prepare fails at its heartbeat timeout, not at its 2-minute start-to-close', async () => {
  const vm = uniqueName('vm');
  await agents.startGuest(vm, '--memory', '48');
  const handle = await ctl.start({
    vm,
    source: agents.source,
    destination: agents.destination,
    holdBefore: ['prepare'],
    autokillTtlMs: 3000,
  });
  await ctl.waitFor(handle, (p) => p.state === 'held');
  const agent = readLivePidFile(join(hostStateDir(cfg.stateDir, agents.destination), 'agent.pid'));
  assert.ok(agent, 'the destination agent runs');
  await handle.signal(resume);
  // Frozen once its worker has started Prepare: a stuck agent, or one whose last poll got the task as it died.
  const startedBy = Date.now() + 30_000;
  for (;;) {
    const pending = (await handle.describe()).raw.pendingActivities ?? [];
    const prepare = pending.find((a) => a.activityType?.name === 'dstPrepare');
    if (prepare && Number(prepare.state) === 2 /* STARTED */) break;
    assert.ok(Date.now() < startedBy, `Prepare never started within 30 s: ${JSON.stringify(pending)}`);
    await new Promise((r) => setTimeout(r, 10));
  }
  process.kill(agent.pid, 'SIGSTOP');
  const frozenAt = Date.now();
  let report: MigrationReport;
  try {
    report = await handle.result();
  } finally {
    process.kill(agent.pid, 'SIGCONT');
  }
  assert.equal(report.outcome, 'rolled-back');
  assert.deepEqual([report.firstError?.phase, report.firstError?.type], ['prepare', 'Timeout']);
  assert.match(report.firstError?.message ?? '', /heartbeat/);
  // Prepare fails at its heartbeat timeout; the cancelled Finish then tries the frozen host for a
  // while (max(10 s, 4 autokill TTLs) = 12 s) before the source resumes. Without the heartbeat,
  // Prepare alone waited 2 minutes.
  const failedAfterMs = Date.parse(report.phases.find((p) => p.name === 'prepare')?.endedAt ?? '') - frozenAt;
  assert.ok(
    failedAfterMs < PHASE_HEARTBEAT_TIMEOUT_MS + 10_000,
    `Prepare failed ${failedAfterMs} ms after the freeze (heartbeat timeout ${PHASE_HEARTBEAT_TIMEOUT_MS} ms)`,
  );
  // Thawed, the agent's late Prepare left an incoming guest: the cancelled Finish or autokill removes it.
  const deadline = Date.now() + 30_000;
  for (;;) {
    try {
      await assertSettled(cfg, redis, vm, [agents.source, agents.destination], { runsOn: agents.source });
      break;
    } catch (err) {
      if (Date.now() > deadline) throw err;
      await new Promise((r) => setTimeout(r, 500));
    }
  }
});

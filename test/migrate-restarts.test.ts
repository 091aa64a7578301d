// Restarts in the middle of Perform: the controller's worker (Temporal resumes the workflow and
// the migration completes), the source agent and the destination agent (SIGKILL: the stream
// breaks, the workflow rolls back, the restarted agent reconciles its guests with their job records).
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import type { Redis } from 'ioredis';
import { hostStateDir } from '../hosts/agent/identity.ts';
import type { Config } from '../infra/config.ts';
import { readLivePidFile, isSameProcessAlive } from '../infra/process/pid-file.ts';
import { createRedis } from '../infra/redis/client.ts';
import { ferry } from '../lab/cli.ts';
import { assertSettled } from '../lab/cluster-state.ts';
import { startTestController, type TestController } from '../lab/migrate.ts';
import { realStack, uniqueName } from '../lab/stack.ts';

const [hostA, hostB] = [uniqueName('host'), uniqueName('host')];
const hosts = [hostA, hostB];
const addressOf = { [hostA]: '127.0.0.19', [hostB]: '127.0.0.20' };
let cfg: Config;
let ctl: TestController;
let redis: Redis;

const startHost = async (h: string) => {
  const r = await ferry('host', 'start', h, '--address', addressOf[h]!, '--memory', '1024', '--detach');
  assert.equal(r.status, 0, r.stderr);
};

before(async () => {
  cfg = await realStack();
  redis = createRedis(cfg, 'test-restarts');
  for (const h of hosts) await startHost(h);
  ctl = await startTestController(cfg);
});

after(async () => {
  await ctl?.stop();
  for (const h of hosts) await ferry('host', 'stop', h);
  redis?.disconnect();
});

/** A guest whose migration takes several seconds: much dirtied memory over a capped tunnel. */
async function busyGuest(): Promise<string> {
  const vm = uniqueName('vm');
  const r = await ferry('guest', 'start', vm, '--host', hostA, '--memory', '96', '--dirty-rate', '3000');
  assert.equal(r.status, 0, r.stderr);
  await new Promise((res) => setTimeout(res, 3000));
  return vm;
}

test('migrate - the controller restarts during Perform: the migration completes with memory intact', async () => {
  const vm = await busyGuest();
  const handle = await ctl.start({
    vm,
    source: hostA,
    destination: hostB,
    tunnelBandwidthMiBps: 16,
    maxDowntimeMs: 500,
  });
  await ctl.waitFor(handle, (p) => p.phase === 'perform' && (p.transfer?.transferred ?? 0) > 0);
  await ctl.restart();
  const report = await handle.result();
  assert.equal(report.outcome, 'completed', JSON.stringify(report.firstError));
  assert.equal(report.digests.destination, report.digests.source);
  await assertSettled(cfg, redis, vm, hosts, { runsOn: hostB });
  await ferry('guest', 'kill', vm);
});

async function killAgent(host: string): Promise<void> {
  const agent = readLivePidFile(join(hostStateDir(cfg.stateDir, host), 'agent.pid'));
  assert.ok(agent, `the agent of ${host} runs`);
  process.kill(agent.pid, 'SIGKILL');
  const deadline = Date.now() + 10_000;
  while (isSameProcessAlive(agent)) {
    assert.ok(Date.now() < deadline, `the SIGKILLed agent of ${host} (pid ${agent.pid}) is gone within 10 s`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

test('migrate - the destination agent is SIGKILLed during Perform: rolled back, the restarted agent kills the half-loaded guest', async () => {
  const vm = await busyGuest();
  const handle = await ctl.start({ vm, source: hostA, destination: hostB, tunnelBandwidthMiBps: 8 });
  await ctl.waitFor(handle, (p) => p.phase === 'perform' && (p.transfer?.transferred ?? 0) > 0);
  await killAgent(hostB);
  await new Promise((r) => setTimeout(r, 1000));
  await startHost(hostB);
  const report = await handle.result();
  assert.equal(report.outcome, 'rolled-back');
  assert.equal(report.firstError?.phase, 'perform');
  await assertSettled(cfg, redis, vm, hosts, { runsOn: hostA });
  await ferry('guest', 'kill', vm);
});

test('migrate - the source agent is SIGKILLed during Perform: rolled back, the restarted agent resumes the guest', async () => {
  const vm = await busyGuest();
  const handle = await ctl.start({
    vm,
    source: hostA,
    destination: hostB,
    tunnelBandwidthMiBps: 8,
    heartbeatTimeoutMs: 3000,
  });
  await ctl.waitFor(handle, (p) => p.phase === 'perform' && (p.transfer?.transferred ?? 0) > 0);
  await killAgent(hostA);
  await new Promise((r) => setTimeout(r, 1000));
  await startHost(hostA);
  const report = await handle.result();
  assert.equal(report.outcome, 'rolled-back');
  assert.equal(report.firstError?.phase, 'perform');
  await assertSettled(cfg, redis, vm, hosts, { runsOn: hostA });
  await ferry('guest', 'kill', vm);
});

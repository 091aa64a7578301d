// Agents started with --guest-runner: emulated guests share one runner process per host, and each
// is still a guest of its own (its QMP socket, a pid-like identity, a kill that ends it alone, an
// exit that is noticed), and migrates like a guest process does.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { runHostOperation } from '../cli/host-operation.ts';
import type { Config } from '../infra/config.ts';
import { isSameProcessAlive, readLivePidFile, type PidRecord } from '../infra/process/pid-file.ts';
import { runnerPaths } from '../hosts/agent/guest-runner.ts';
import { hostStateDir } from '../hosts/agent/identity.ts';
import { GUEST_NUMBERS } from '../hosts/guest-sim/runner-protocol.ts';
import { QmpClient } from '../hosts/qmp/client.ts';
import { twoAgents, type TwoAgents } from '../lab/agents.ts';
import { ferry } from '../lab/cli.ts';
import { startTestController, type TestController } from '../lab/migrate.ts';
import { realStack, uniqueName } from '../lab/stack.ts';

let cfg: Config;
let agents: TwoAgents;
let ctl: TestController;

before(async () => {
  cfg = await realStack();
  agents = await twoAgents(cfg, ['127.0.0.30', '127.0.0.31'], { guestRunner: true });
  ctl = await startTestController(cfg);
});

after(async () => {
  await ctl?.stop();
  await agents?.stop();
});

const runnerOf = (host: string): PidRecord | undefined =>
  readLivePidFile(runnerPaths(join(hostStateDir(cfg.stateDir, host), 'guest-runner')).pid);

const listed = async (host: string) =>
  new Map((await runHostOperation(cfg, host, 'listGuests')).map((g) => [g.vm, g]));

const digest = async (host: string, vm: string) =>
  (await runHostOperation(cfg, host, 'guestDigest', vm)).digest;

/** Waits (5 s at most) until `vm` is no longer listed on `host`. */
async function untilGone(host: string, vm: string): Promise<void> {
  const deadline = Date.now() + 5000;
  while ((await listed(host)).has(vm)) {
    if (Date.now() > deadline) assert.fail(`${vm} is still listed on ${host} after 5 s`);
    await sleep(100);
  }
}

test('guest runner - one runner hosts the guests; killing one leaves the others running with their memory, a guest that quits is noticed, and a restarted agent reconnects', async () => {
  const host = agents.source;
  const [a, b, c, d] = ['a', 'b', 'c', 'd'].map((x) => uniqueName(`gr${x}`)) as [
    string,
    string,
    string,
    string,
  ];
  const pids = await Promise.all(
    [a, b, c, d].map((vm) => agents.startGuest(vm, '--memory', '32', '--dirty-rate', '300')),
  );

  const runner = runnerOf(host);
  assert.ok(runner, 'the host has a live guest runner');
  assert.equal(new Set(pids).size, 4, `four identities: ${pids.join(', ')}`);
  for (const pid of pids) {
    assert.equal(Math.floor(pid / GUEST_NUMBERS), runner.pid, `${pid} is a guest of runner ${runner.pid}`);
  }

  await sleep(300); // the workloads dirty some pages
  await runHostOperation(cfg, host, 'pauseGuest', b);
  const before = await digest(host, b);

  await runHostOperation(cfg, host, 'killGuest', a, 'test: kill one guest of the runner');
  const after = await listed(host);
  assert.equal(after.has(a), false, 'the killed guest is gone from the agent');
  assert.ok(isSameProcessAlive(runner), 'the runner outlived the kill');
  assert.equal(await digest(host, b), before, 'the paused guest kept its memory');
  const status = await runHostOperation(cfg, host, 'guestStatus', c);
  assert.deepEqual([status.status, status.running], ['running', true], 'the other guest runs on');
  const cBefore = await digest(host, c);
  await sleep(200);
  assert.notEqual(await digest(host, c), cBefore, 'the running guest still dirties memory');

  // A guest that ends by itself (QMP quit) is noticed and forgotten, the others untouched.
  const qmp = await QmpClient.connect(join(hostStateDir(cfg.stateDir, host), 'guests', d, 'qmp.sock'));
  await qmp.execute('quit');
  qmp.close();
  await untilGone(host, d);
  assert.deepEqual(
    [...(await listed(host)).keys()].filter((vm) => [a, b, c, d].includes(vm)).sort(),
    [b, c].sort(),
  );
  assert.ok(isSameProcessAlive(runner), 'the runner outlived the quit');

  // The runner and its guests outlive the agent; a restarted agent reconnects to them.
  assert.equal((await ferry('host', 'stop', host)).status, 0, 'the agent stops');
  await agents.start(host);
  const back = await listed(host);
  assert.deepEqual([back.get(b)?.status, back.get(c)?.status], ['paused', 'running'], 'both reconnected');
  assert.equal(runnerOf(host)?.pid, runner.pid, 'the same runner');
  assert.equal(await digest(host, b), before, 'the paused guest kept its memory across the restart');
  await runHostOperation(cfg, host, 'killGuest', c, 'test: kill after the agent restarted');
  assert.equal((await listed(host)).has(c), false, 'a reconnected guest is killed alone');
  assert.equal((await listed(host)).get(b)?.status, 'paused', 'the other one stays');
});

test('guest runner - a runner-hosted guest migrates to another runner with its memory intact', async () => {
  const vm = uniqueName('grm');
  await agents.startGuest(vm, '--memory', '64', '--dirty-rate', '1000');
  await sleep(300);
  const report = await ctl.run({
    vm,
    source: agents.source,
    destination: agents.destination,
    maxDowntimeMs: 300,
    progressTimeoutMs: 30_000,
  });
  assert.equal(report.outcome, 'completed', JSON.stringify(report.firstError));
  assert.ok(report.digests.source, 'the source digested its memory at the stop');
  assert.equal(report.digests.destination, report.digests.source, 'memory arrived intact');
  assert.equal((await listed(agents.destination)).get(vm)?.status, 'running', 'the destination runs');
  const runner = runnerOf(agents.destination);
  assert.ok(runner, 'the destination has a runner');
  const named = JSON.parse(
    readFileSync(
      join(hostStateDir(cfg.stateDir, agents.destination), 'guests', vm, 'runner-guest.json'),
      'utf8',
    ),
  ) as { runner: { pid: number } };
  assert.equal(named.runner.pid, runner.pid, 'the guest is one of the destination runner');
  assert.equal((await listed(agents.source)).has(vm), false, 'the source guest is gone');
});

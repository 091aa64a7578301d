// `ferry demo stop`: stops what a demo run started and nothing else, by pid files: the demo's guests
// (through their agent, or by pid file when the agent is down), its agents, and the controller only
// if the demo started it; a second run finds nothing and exits 0. The demo's footprint is built here
// with the commands the demo runs (two of its hosts, three of its guests), not by a full demo run
// (test/demo.test.ts does that), so this takes seconds. It also shows `ferry status` keeping a
// stopped host, down, with the guests that outlive its agent.
// exclusive: stops and starts the operator's controller (the one a demo starts).
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import type { Redis } from 'ioredis';
import { recordDemoController } from '../cli/demo-stop.ts';
import { demoPlan } from '../cli/demo-plan.ts';
import type { ClusterStatus } from '../cli/status.ts';
import { hostStateDir } from '../hosts/agent/identity.ts';
import type { Config } from '../infra/config.ts';
import { processStartTime, readLivePidFile } from '../infra/process/pid-file.ts';
import { createRedis } from '../infra/redis/client.ts';
import { DrainMarks } from '../infra/redis/draining.ts';
import { placementOf, releasePlacement } from '../infra/redis/placement.ts';
import { controllerPid } from '../workers/controller/daemon.ts';
import { ferry } from '../lab/cli.ts';
import { realStack, uniqueName } from '../lab/stack.ts';

let cfg: Config;
let redis: Redis;
let controllerWasRunning = false;
const prefix = uniqueName('ds');
const plan = demoPlan({ prefix, address: '127.0.2.41', qemu: false });
const [h1, h2] = plan.hosts as [(typeof plan.hosts)[number], (typeof plan.hosts)[number]];
const onH1 = plan.guests.filter((g) => g.host === h1.name).slice(0, 2);
const onH2 = plan.guests.filter((g) => g.host === h2.name).slice(0, 1);

before(async () => {
  cfg = await realStack();
  redis = createRedis(cfg, 'test-demo-stop');
  controllerWasRunning = controllerPid(cfg) !== undefined;
});

after(async () => {
  // Whatever a failure left: the guests through a running agent, then the agents.
  for (const g of [...onH1, ...onH2]) {
    const host = await placementOf(redis, g.vm);
    if (host) {
      await ferry('guest', 'kill', g.vm);
      await releasePlacement(redis, g.vm, host);
    }
  }
  for (const h of [h1, h2]) await ferry('host', 'stop', h.name);
  await new DrainMarks(redis).clear(plan.drain);
  redis?.disconnect();
  if (controllerWasRunning) await ferry('controller', 'start');
  else await ferry('controller', 'stop');
});

const json = <T>(r: { status: number; stdout: string; stderr: string }): T => {
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.stdout) as T;
};

const hostStart = (h: typeof h1) =>
  ferry(
    'host',
    'start',
    h.name,
    '--address',
    h.address,
    '--memory',
    String(h.memoryMiB),
    '--detach',
    '--json',
  );

test('demo stop - stops the demo guests, agents and the controller it started; a second run finds nothing', async () => {
  // The controller as the demo starts it (and notes it), whether or not one ran before.
  await ferry('controller', 'stop');
  const started = json<{ pid: number; started: boolean }>(await ferry('controller', 'start', '--json'));
  assert.equal(started.started, true);
  recordDemoController(cfg, prefix, controllerPid(cfg)!);

  for (const h of [h1, h2]) assert.equal(json<{ host: string }>(await hostStart(h)).host, h.name);
  const pids = new Map<string, number>();
  for (const g of [...onH1, ...onH2]) {
    const r = json<{ vm: string; host: string; pid: number }>(
      await ferry('guest', 'start', g.vm, '--host', g.host, '--memory', String(g.memoryMiB), '--json'),
    );
    pids.set(g.vm, r.pid);
  }
  await new DrainMarks(redis).mark(plan.drain, `drain-${plan.drain}`);

  // h2's agent stops with its guest running: status keeps h2, down, with that guest as last seen.
  const h2Stop = json<{ host: string; outcome: string }>(await ferry('host', 'stop', h2.name, '--json'));
  assert.deepEqual([h2Stop.host, h2Stop.outcome], [h2.name, 'stopped']);
  const s = json<ClusterStatus>(await ferry('status', '--json'));
  const down = s.hosts.find((h) => h.name === h2.name);
  assert.equal(down?.up, false, `${h2.name} is listed, down`);
  assert.ok(
    down.lastSeenAt && Date.now() - Date.parse(down.lastSeenAt) < 60_000,
    `last seen ${down.lastSeenAt}`,
  );
  const kept = s.guests.find((g) => g.vm === onH2[0]!.vm);
  assert.deepEqual(
    [kept?.host, kept?.state, kept?.memoryMiB, kept?.lastSeenAt],
    [h2.name, 'unknown (host down; last seen running)', onH2[0]!.memoryMiB, down.lastSeenAt],
  );
  const text = await ferry('status', '--once');
  assert.match(
    text.stdout,
    new RegExp(`${h2.name}\\s+down \\(last seen \\d{4}-\\d\\d-\\d\\d \\d\\d:\\d\\d:\\d\\d UTC\\)`),
  );
  assert.match(
    text.stdout,
    new RegExp(`${onH2[0]!.vm}\\s+${h2.name}\\s+unknown \\(host down; last seen running\\)`),
  );

  const stop = json<{
    guests: { vm: string; host: string; how: string }[];
    hosts: { name: string; pid: number; outcome: string }[];
    controller: { pid: number; outcome: string } | null;
    controllerLeft: unknown;
    stack: unknown;
  }>(await ferry('demo', 'stop', '--prefix', prefix, '--json'));
  assert.deepEqual(
    stop.guests.map((g) => [g.vm, g.host, g.how]),
    [
      ...onH1.map((g) => [g.vm, h1.name, 'killed by its agent']),
      ...onH2.map((g) => [g.vm, h2.name, 'killed by its pid file (agent down)']),
    ].sort(),
  );
  assert.deepEqual(stop.hosts, [{ name: h1.name, pid: stop.hosts[0]?.pid, outcome: 'stopped' }]);
  assert.deepEqual(stop.controller, { pid: started.pid, outcome: 'stopped' });
  assert.deepEqual([stop.controllerLeft, stop.stack], [null, null], 'the stack is left alone');
  for (const [vm, pid] of pids) assert.equal(processStartTime(pid), undefined, `${vm} (pid ${pid}) is gone`);
  assert.equal(readLivePidFile(join(hostStateDir(cfg.stateDir, h1.name), 'agent.pid')), undefined);
  assert.equal(controllerPid(cfg), undefined, 'the controller the demo started is gone');
  for (const g of onH1) assert.equal(await placementOf(redis, g.vm), null, `${g.vm}'s placement is released`);
  assert.equal(await new DrainMarks(redis).get(plan.drain), undefined, 'the drain mark went with the demo');

  const again = await ferry('demo', 'stop', '--prefix', prefix);
  assert.equal(again.status, 0, again.stderr);
  assert.match(again.stdout, new RegExp(`nothing the demo \\(prefix ${prefix}\\) started is running`));

  // h2's agent, started again, finds its guest gone and settles it; stopped empty, h2 is forgotten.
  json(await hostStart(h2));
  json(await ferry('host', 'stop', h2.name, '--json'));
  const after = json<ClusterStatus>(await ferry('status', '--json'));
  assert.equal(
    after.hosts.find((h) => h.name === h2.name),
    undefined,
    `${h2.name} had no guests left`,
  );
  assert.equal(
    after.guests.find((g) => g.vm === onH2[0]!.vm),
    undefined,
  );
});

test('demo stop - a controller the demo did not start is left running, and said so', async () => {
  const c = json<{ pid: number }>(await ferry('controller', 'start', '--json'));
  const r = json<{ controller: unknown; controllerLeft: { pid: number } | null }>(
    await ferry('demo', 'stop', '--prefix', prefix, '--json'),
  );
  assert.deepEqual([r.controller, r.controllerLeft], [null, { pid: c.pid }]);
  assert.equal(controllerPid(cfg)?.pid, c.pid, 'still running');
  const text = await ferry('demo', 'stop', '--prefix', prefix);
  assert.match(
    text.stdout,
    new RegExp(`controller: left running \\(pid ${c.pid}\\), the demo did not start it`),
  );
});

test('demo stop - a bad prefix is one line and exit 2', async () => {
  const r = await ferry('demo', 'stop', '--prefix', 'Not A Prefix');
  assert.equal(r.status, 2);
  assert.match(r.stderr, /invalid input: .*lower-case/);
  assert.equal(r.stderr.trim().split('\n').length, 1);
});

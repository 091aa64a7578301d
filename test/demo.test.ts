// `npm start`'s demo, run as `ferry demo` under a prefix and addresses of its own: it must end with
// every migration completed, every guest drained, no violation and the live state equal to the log,
// and leave its hosts and guests running (the test removes them afterwards).
// exclusive: uses the operator's controller and reads the whole cluster's status.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { Redis } from 'ioredis';
import { runHostOperation } from '../cli/host-operation.ts';
import type { Config } from '../infra/config.ts';
import { createRedis } from '../infra/redis/client.ts';
import { DrainMarks } from '../infra/redis/draining.ts';
import { placementOf, releasePlacement } from '../infra/redis/placement.ts';
import { demoPlan } from '../cli/demo-plan.ts';
import { ferry, ferryWithin } from '../lab/cli.ts';
import { ensureQemu } from '../lab/qemu.ts';
import { assertControllerRuns, withoutController } from './support/controller.ts';
import { realStack, uniqueName } from '../lab/stack.ts';

let cfg: Config;
let redis: Redis;
let restoreController: (() => Promise<void>) | undefined;
const prefix = uniqueName('tour');
const address = '127.0.2.11';

before(async () => {
  cfg = await realStack();
  redis = createRedis(cfg, 'test-demo');
  ensureQemu(); // CI installs it: the demo must include its real QEMU guest
  restoreController = await withoutController();
});

after(async () => {
  // The demo leaves everything running on purpose; the test does not.
  const plan = demoPlan({ prefix, address, qemu: true });
  for (const g of plan.guests) {
    const host = await placementOf(redis, g.vm);
    if (!host) continue;
    await runHostOperation(cfg, host, 'killGuest', g.vm, 'test cleanup').catch(() => undefined);
    await releasePlacement(redis, g.vm, host);
  }
  for (const h of plan.hosts) await ferry('host', 'stop', h.name);
  await new DrainMarks(redis).clear(plan.drain);
  redis?.disconnect();
  await restoreController?.();
});

test('ferry demo - starts the controller, migrates (one guest a real QEMU), drains and audits with no violation, everything left running', async () => {
  const r = await ferryWithin(900_000, 'demo', '--prefix', prefix, '--address', address);
  assert.equal(r.status, 0, `${r.stdout}\n${r.stderr}`);
  assert.match(r.stdout, /one of them a real QEMU/, 'QEMU is installed: the demo uses it');
  assert.match(r.stdout, /controller started \(pid \d+\)/, 'no controller ran: the demo started one');
  await assertControllerRuns('ferry demo');
  const plan = demoPlan({ prefix, address, qemu: true });

  for (const m of plan.migrations) {
    assert.match(r.stdout, new RegExp(`: ${m.vm} completed: runs on ${m.to};`), `${m.vm} moved`);
  }
  const drained = plan.guests.filter((g) => g.host === plan.drain).length;
  assert.match(r.stdout, new RegExp(`drain of ${plan.drain}: ${drained} moved, 0 not moved`));
  assert.match(r.stdout, /violations: none/);
  assert.match(r.stdout, /live state: matches the log/);

  // Left running: every guest placed on a demo host that is up, none on the drained one.
  const s = JSON.parse((await ferry('status', '--json')).stdout) as {
    hosts: { name: string; up: boolean; draining: string | null }[];
    guests: { vm: string; host: string; state: string }[];
  };
  for (const h of plan.hosts) assert.equal(s.hosts.find((x) => x.name === h.name)?.up, true, `${h.name} up`);
  assert.ok(s.hosts.find((x) => x.name === plan.drain)?.draining, `${plan.drain} keeps its drain mark`);
  for (const g of plan.guests) {
    const line = s.guests.find((x) => x.vm === g.vm);
    assert.equal(line?.state, 'running', `${g.vm} runs`);
    assert.notEqual(line?.host, plan.drain, `${g.vm} left ${plan.drain}`);
  }

  // A second run finds the same cluster, removes the first run's guests and ends as well.
  const again = await ferryWithin(900_000, 'demo', '--prefix', prefix, '--address', address);
  assert.equal(again.status, 0, `${again.stdout}\n${again.stderr}`);
  assert.match(again.stdout, new RegExp(`removed ${plan.guests.length} guests of an earlier run`));
  assert.match(again.stdout, new RegExp(`${plan.hosts[0]!.name} already running`));
});

test('ferry demo - a bad address is one line and a non-zero exit', async () => {
  const r = await ferry('demo', '--address', '10.0.0.1');
  assert.notEqual(r.status, 0);
  assert.match(r.stderr, /loopback/);
  assert.equal(r.stderr.trim().split('\n').length <= 2, true, r.stderr);
});

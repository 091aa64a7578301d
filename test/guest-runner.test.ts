// The guest runner process with the agent's client (no services): a kill ends one guest at once
// and silently (its QMP connection drops with no SHUTDOWN, its socket goes) while the others answer
// on; a guest that quits sends SHUTDOWN and becomes an `exited` notice; a bad request gets one
// error line; the runner ends once it hosts nothing and nobody is connected.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { GuestRunner, runnerPaths } from '../hosts/agent/guest-runner.ts';
import { GUEST_NUMBERS } from '../hosts/guest-sim/runner-protocol.ts';
import { createLogger } from '../infra/logging/logger.ts';
import { QmpClient } from '../hosts/qmp/client.ts';
import type { QmpEvent } from '../hosts/qmp/schema.ts';

const dirs: string[] = [];
const runners: GuestRunner[] = [];
after(async () => {
  for (const r of runners) if (r.runnerAlive()) process.kill(r.record.pid, 'SIGKILL');
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
});

const log = createLogger('test', 'error');

async function until(what: string, ok: () => boolean, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!ok()) {
    if (Date.now() > deadline) assert.fail(`${what}: not within ${ms} ms`);
    await sleep(20);
  }
}

test('guest runner - a kill ends one guest silently and at once, a quit is a notice, and the runner ends when idle', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'ferry-runner-'));
  dirs.push(dir);
  const runner = (await GuestRunner.open(join(dir, 'runner'), log, true))!;
  runners.push(runner);
  const guest = (name: string) =>
    runner.start(
      { name, memoryMiB: 8, dirtyPagesPerSecond: 500, qmpSocket: join(dir, `${name}.qmp`) },
      { log: join(dir, `${name}.log`), runnerGuest: join(dir, `${name}.json`) },
    );
  const [a, b] = [await guest('a'), await guest('b')];
  assert.notEqual(a.pid, b.pid);
  assert.equal(Math.floor(a.pid / GUEST_NUMBERS), runner.record.pid, 'the identity names the runner');
  const [qa, qb] = [await QmpClient.connect(join(dir, 'a.qmp')), await QmpClient.connect(join(dir, 'b.qmp'))];
  const eventsA: QmpEvent[] = [];
  const eventsB: QmpEvent[] = [];
  qa.onEvent((e) => eventsA.push(e));
  qb.onEvent((e) => eventsB.push(e));

  await a.kill();
  assert.equal(a.alive(), false);
  await assert.rejects(qa.execute('query-status', undefined, 1000), 'the killed guest does not answer');
  assert.equal(existsSync(join(dir, 'a.qmp')), false, 'its QMP socket is gone');
  assert.deepEqual(
    eventsA.filter((e) => e.event === 'SHUTDOWN'),
    [],
    'a kill sends no SHUTDOWN',
  );
  assert.equal((await qb.execute('query-status')).status, 'running', 'the other guest answers');
  assert.deepEqual(
    (await runner.list()).map((g) => g.name),
    ['b'],
    'the runner lists only the live one',
  );

  // A bad line on the control socket: one error answer, the runner unharmed.
  const answer = await new Promise<string>((resolve, reject) => {
    const conn = connect(runnerPaths(join(dir, 'runner')).socket);
    conn.setEncoding('utf8');
    conn.on('error', reject);
    conn.on('connect', () => conn.write('{"op":"explode","id":7}\n'));
    conn.on('data', (line: string) => {
      conn.destroy();
      resolve(line);
    });
  });
  assert.match(answer, /"ok":false,"error":"bad request: /);

  await qb.execute('quit');
  await until('the quit guest is noticed', () => !b.alive());
  assert.ok(
    eventsB.some((e) => e.event === 'SHUTDOWN'),
    'a quit sends SHUTDOWN, as a guest process does',
  );
  qa.close();
  qb.close();
  assert.ok(runner.runnerAlive(), 'the runner outlives its guests while its agent is connected');
  runner.close();
  await until('the idle runner ends', () => !runner.runnerAlive());
});

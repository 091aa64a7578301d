// `ferry controller start|status|stop --task-queue`: another controller than the operator's (a
// drill's own) is started, seen and stopped by its own pid file, and the operator's is not touched.
import assert from 'node:assert/strict';
import { before, test } from 'node:test';
import { controllerPid } from '../workers/controller/daemon.ts';
import { isSameProcessAlive } from '../infra/process/pid-file.ts';
import type { Config } from '../infra/config.ts';
import { ferry } from '../lab/cli.ts';
import { realStack, uniqueName } from '../lab/stack.ts';

let cfg: Config;

before(async () => {
  cfg = await realStack();
});

test('controller cli - --task-queue starts, reports and stops that controller only', async () => {
  const queue = uniqueName('drill');
  const operators = controllerPid(cfg);
  const started = await ferry('controller', 'start', '--task-queue', queue);
  assert.equal(started.status, 0, started.stderr);
  const pid = controllerPid(cfg, queue);
  assert.ok(pid && isSameProcessAlive(pid), 'its pid file names a live process');
  assert.match(started.stdout, new RegExp(`controller started: pid ${pid.pid}`));
  const again = await ferry('controller', 'start', '--task-queue', queue);
  assert.match(again.stdout, new RegExp(`already runs: pid ${pid.pid}`), 'a second start finds it');
  assert.match(
    (await ferry('controller', 'status', '--task-queue', queue)).stdout,
    new RegExp(`${queue} runs: pid ${pid.pid}`),
  );

  const stopped = await ferry('controller', 'stop', '--task-queue', queue);
  assert.equal(stopped.status, 0, stopped.stderr);
  assert.equal(isSameProcessAlive(pid), false, 'that controller is gone');
  assert.match((await ferry('controller', 'status', '--task-queue', queue)).stdout, /not running/);
  assert.deepEqual(controllerPid(cfg), operators, "the operator's controller is as it was");
});

test('controller cli - a bad --task-queue is one line and exit 2', async () => {
  const r = await ferry('controller', 'stop', '--task-queue', 'Not A Queue');
  assert.equal(r.status, 2);
  assert.match(r.stderr, /a task queue: lower-case letters/);
  assert.equal(
    r.stderr
      .trim()
      .split('\n')
      .filter((l) => !l.startsWith('npm warn')).length,
    1,
  );
});

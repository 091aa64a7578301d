// `--json` on the commands that print a result (host start|stop, guest start|stop|kill|resume,
// migration set|abort, undrain, controller start|stop|status): one JSON object on stdout with the
// fields their help names; and the guest commands' edge cases (an unknown VM, one already stopped,
// a host whose agent is down, resuming a guest that runs): one line on stderr, the exit status, and
// nothing on stdout. `ferry status` with a stopped host is in test/demo-stop.test.ts.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { Redis } from 'ioredis';
import { runHostOperation } from '../cli/host-operation.ts';
import type { Config } from '../infra/config.ts';
import { processStartTime } from '../infra/process/pid-file.ts';
import { createRedis } from '../infra/redis/client.ts';
import { DrainMarks } from '../infra/redis/draining.ts';
import { placementOf } from '../infra/redis/placement.ts';
import type { MigrationReport } from '../protocol/migration.ts';
import { twoAgents, type TwoAgents } from '../lab/agents.ts';
import { ferry, type CliResult } from '../lab/cli.ts';
import { startTestController, type TestController } from '../lab/migrate.ts';
import { realStack, uniqueName } from '../lab/stack.ts';

let cfg: Config;
let redis: Redis;
const host = uniqueName('host-json');
const address = '127.0.0.175';
const vms: string[] = [];

before(async () => {
  cfg = await realStack();
  redis = createRedis(cfg, 'test-cli-json');
});

after(async () => {
  for (const vm of vms) if (await placementOf(redis, vm)) await ferry('guest', 'kill', vm);
  await ferry('host', 'stop', host);
  await new DrainMarks(redis).clear(host);
  redis?.disconnect();
});

/** The one JSON object a command printed, with exactly these fields. */
function object(r: CliResult, fields: string[]): Record<string, unknown> {
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout.trim().split('\n').length, 1, `one line: ${r.stdout}`);
  const o = JSON.parse(r.stdout) as Record<string, unknown>;
  assert.deepEqual(Object.keys(o).sort(), [...fields].sort());
  return o;
}

/** A refusal: exit `status`, one line on stderr matching `pattern`, nothing on stdout. */
function refused(r: CliResult, status: number, pattern: RegExp): void {
  assert.equal(r.status, status, r.stderr);
  assert.match(r.stderr, pattern);
  assert.equal(r.stderr.trim().split('\n').length, 1, `one line: ${r.stderr}`);
  assert.equal(r.stdout, '');
}

const startHost = () =>
  ferry('host', 'start', host, '--address', address, '--memory', '256', '--detach', '--json');

const startGuest = (vm: string) => {
  vms.push(vm);
  return ferry('guest', 'start', vm, '--host', host, '--memory', '16', '--json');
};

test('cli json - host start, guest start, stop, kill and resume each print one object', async () => {
  refused(
    await ferry('host', 'start', host, '--address', address, '--json'),
    2,
    /--json prints the started agent, so it needs --detach/,
  );
  const up = object(await startHost(), ['host', 'pid', 'taskQueue', 'address', 'log']);
  assert.deepEqual([up.host, up.taskQueue, up.address], [host, `host.${host}`, address]);
  assert.ok(processStartTime(up.pid as number) !== undefined, 'pid names the running agent');

  const vm = uniqueName('vm-json');
  const g = object(await startGuest(vm), ['vm', 'host', 'kind', 'memoryMiB', 'pid']);
  assert.deepEqual([g.vm, g.host, g.kind, g.memoryMiB], [vm, host, 'emulated', 16]);

  // Resuming a guest that runs leaves it as it is, and says so; a paused one resumes.
  const running = object(await ferry('guest', 'resume', vm, '--host', host, '--json'), [
    'vm',
    'host',
    'outcome',
    'placement',
  ]);
  assert.deepEqual(running, { vm, host, outcome: 'already running', placement: host });
  const text = await ferry('guest', 'resume', vm, '--host', host);
  assert.equal(text.stdout, `${vm} already running on ${host}\n`);
  await runHostOperation(cfg, host, 'pauseGuest', vm);
  const resumed = object(await ferry('guest', 'resume', vm, '--host', host, '--json'), [
    'vm',
    'host',
    'outcome',
    'placement',
  ]);
  assert.equal(resumed.outcome, 'resumed');
  assert.equal((await runHostOperation(cfg, host, 'guestStatus', vm)).running, true);

  const stopped = object(await ferry('guest', 'stop', vm, '--json'), ['vm', 'host', 'outcome']);
  assert.deepEqual(stopped, { vm, host, outcome: 'stopped' });
  assert.equal(processStartTime(g.pid as number), undefined, 'the guest process is gone');

  const other = uniqueName('vm-json');
  object(await startGuest(other), ['vm', 'host', 'kind', 'memoryMiB', 'pid']);
  assert.deepEqual(object(await ferry('guest', 'kill', other, '--json'), ['vm', 'host', 'outcome']), {
    vm: other,
    host,
    outcome: 'killed',
  });
});

test('cli json - host stop prints one object; guest stop, kill and resume refuse an unknown, stopped or unreachable guest in one line', async () => {
  // The host of the test before, still up.
  const vm = uniqueName('vm-json');
  object(await startGuest(vm), ['vm', 'host', 'kind', 'memoryMiB', 'pid']);
  const nobody = uniqueName('vm-nobody');
  refused(await ferry('guest', 'stop', nobody), 2, new RegExp(`no guest named ${nobody} in the cluster`));
  // Told which host, the agent answers that it has no such guest.
  refused(
    await ferry('guest', 'kill', nobody, '--host', host, '--json'),
    2,
    new RegExp(`${nobody} on ${host}: no such guest on this host`),
  );
  refused(
    await ferry('guest', 'resume', nobody, '--host', host),
    2,
    new RegExp(`${nobody} on ${host}: no such guest on this host`),
  );
  refused(await ferry('guest', 'resume', 'Bad Name', '--host', host), 2, /invalid input: .*lower-case/);

  // Its agent stops (the guest runs on): refused at once, not after the operation's 3 minutes.
  const down = object(await ferry('host', 'stop', host, '--json'), ['host', 'pid', 'outcome']);
  assert.deepEqual([down.host, down.outcome], [host, 'stopped']);
  assert.equal(processStartTime(down.pid as number), undefined, 'the agent is gone');
  refused(await ferry('host', 'stop', host, '--json'), 2, new RegExp(`host ${host} is not running here`));
  for (const args of [
    ['stop', vm],
    ['resume', vm, '--host', host],
    ['digest', vm],
  ]) {
    const began = Date.now();
    refused(
      await ferry('guest', ...args),
      2,
      new RegExp(`${vm} on ${host}: the host is down .*ferry host start ${host} --detach`),
    );
    assert.ok(Date.now() - began < 30_000, `guest ${args[0]} answered in ${Date.now() - began} ms`);
  }

  // Its agent back, the guest stops; a second stop finds nothing to stop.
  object(await startHost(), ['host', 'pid', 'taskQueue', 'address', 'log']);
  object(await ferry('guest', 'stop', vm, '--json'), ['vm', 'host', 'outcome']);
  refused(await ferry('guest', 'kill', vm, '--json'), 2, new RegExp(`no guest named ${vm} in the cluster`));
  await ferry('host', 'stop', host);
});

test('cli json - undrain and controller start, status and stop print one object', async () => {
  assert.deepEqual(object(await ferry('undrain', host, '--json'), ['host', 'wasDraining']), {
    host,
    wasDraining: false,
  });
  await new DrainMarks(redis).mark(host, 'test');
  assert.deepEqual(object(await ferry('undrain', host, '--json'), ['host', 'wasDraining']), {
    host,
    wasDraining: true,
  });

  const queue = uniqueName('drill');
  const q = ['--task-queue', queue, '--json'];
  const started = object(await ferry('controller', 'start', ...q), ['taskQueue', 'pid', 'started', 'log']);
  assert.deepEqual([started.taskQueue, started.started], [queue, true]);
  const again = object(await ferry('controller', 'start', ...q), ['taskQueue', 'pid', 'started', 'log']);
  assert.deepEqual([again.pid, again.started], [started.pid, false]);
  const status = object(await ferry('controller', 'status', ...q), ['taskQueue', 'running', 'pid', 'log']);
  assert.deepEqual(status, { taskQueue: queue, running: true, pid: started.pid, log: started.log });
  const stop = object(await ferry('controller', 'stop', ...q), ['taskQueue', 'pid', 'outcome']);
  assert.deepEqual(stop, { taskQueue: queue, pid: started.pid, outcome: 'stopped' });
  assert.deepEqual(object(await ferry('controller', 'stop', ...q), ['taskQueue', 'pid', 'outcome']), {
    taskQueue: queue,
    pid: null,
    outcome: 'not running',
  });
  const none = object(await ferry('controller', 'status', ...q), ['taskQueue', 'running', 'pid', 'log']);
  assert.deepEqual([none.running, none.pid], [false, null]);
});

test('cli json - migration set and abort print the limits sent and the report', async () => {
  let agents: TwoAgents | undefined;
  let ctl: TestController | undefined;
  try {
    agents = await twoAgents(cfg, ['127.0.0.176', '127.0.0.177'], { memoryMiB: 256 });
    ctl = await startTestController(cfg);
    // 32 MiB rewritten at 2000 pages (8 MiB) a second cannot converge at 1 MiB/s: Perform runs until aborted.
    const vm = uniqueName('vm-json');
    await agents.startGuest(vm, '--memory', '32', '--dirty-rate', '2000');
    const { source, destination } = agents;
    const handle = await ctl.start({ vm, source, destination, bandwidthMiBps: 1 });
    const id = handle.workflowId;
    await ctl.waitFor(handle, (p) => p.phase === 'perform' && (p.transfer?.transferred ?? 0) > 0);

    const set = object(await ferry('migration', 'set', id, '--bandwidth', '2', '--json'), [
      'migrationId',
      'maxDowntimeMs',
      'bandwidthMiBps',
    ]);
    assert.deepEqual(set, { migrationId: id, maxDowntimeMs: null, bandwidthMiBps: 2 });

    const abort = await ferry('migration', 'abort', id, '--json');
    assert.equal(abort.status, 3, abort.stderr);
    const report = JSON.parse(abort.stdout) as MigrationReport;
    assert.deepEqual(
      [report.migrationId, report.vm, report.outcome, report.aborted, report.firstError?.type],
      [id, vm, 'rolled-back', true, 'Aborted'],
    );
    assert.deepEqual(report, await handle.result(), "the workflow's own report");
  } finally {
    await ctl?.stop();
    await agents?.stop();
  }
});

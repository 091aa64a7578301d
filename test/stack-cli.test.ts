// exclusive: stops, wipes and starts again the stack every other test uses (the configured one).
// `ferry stack logs|down|reset` as an operator runs them: logs prints each service's log (one, or
// all three under headers) and refuses an unknown service in one line; down stops exactly what
// `stack up` started and a second down finds nothing; reset stops it and wipes the state dir. The
// stack is up again at the end, as the files after this one need it.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { after, before, test } from 'node:test';
import type { Config } from '../infra/config.ts';
import { processStartTime } from '../infra/process/pid-file.ts';
import { SERVICE_NAMES } from '../infra/stack/service.ts';
import { serviceLogPath, servicePidFile, stackStatus } from '../infra/stack/stack.ts';
import { controllerPid } from '../workers/controller/daemon.ts';
import { ferry, type CliResult } from '../lab/cli.ts';
import { realStack } from '../lab/stack.ts';

let cfg: Config;
let controllerWasRunning = false;

before(async () => {
  cfg = await realStack();
  // The operator's controller would outlive a reset with its pid file wiped: stopped first, and
  // started again at the end if it ran.
  controllerWasRunning = controllerPid(cfg) !== undefined;
  if (controllerWasRunning) await ferry('controller', 'stop');
});

after(async () => {
  await ferry('stack', 'up', '--quiet');
  if (controllerWasRunning) await ferry('controller', 'start');
});

interface Services {
  services: { name: string; outcome: string }[];
}

function services(r: CliResult): Services['services'] {
  assert.equal(r.status, 0, r.stderr);
  return (JSON.parse(r.stdout) as Services).services;
}

const outcomes = (s: Services['services']) => Object.fromEntries(s.map((x) => [x.name, x.outcome]));
const all = (outcome: string) => Object.fromEntries(SERVICE_NAMES.map((n) => [n, outcome]));

/** Every service was started by ferry here (not found running): what down and reset act on. */
function ownedPids(): number[] {
  return SERVICE_NAMES.map((name) => {
    const record = servicePidFile(cfg, name);
    assert.ok(record, `${name} was started by ferry here (this test needs the stack it owns)`);
    return record.pid;
  });
}

test('stack logs - one service or all three, the last N lines; an unknown service is one line', async () => {
  const one = await ferry('stack', 'logs', 'redis', '-n', '3');
  assert.equal(one.status, 0, one.stderr);
  const lines = one.stdout.trimEnd().split('\n');
  assert.ok(lines.length >= 1 && lines.length <= 3, `at most 3 lines: ${one.stdout}`);
  assert.ok(existsSync(serviceLogPath(cfg, 'redis')));

  const every = await ferry('stack', 'logs', '-n', '1');
  assert.equal(every.status, 0, every.stderr);
  for (const name of SERVICE_NAMES) {
    assert.ok(
      every.stdout.includes(`==> ${name} (${serviceLogPath(cfg, name)}) <==`),
      `${name} has its header`,
    );
  }

  for (const args of [
    ['logs', 'postgres'],
    ['logs', 'redis', '-n', '0'],
  ]) {
    const r = await ferry('stack', ...args);
    assert.equal(r.status, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, /^ferry: invalid input: /);
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
  }
});

test('stack down --json - stops exactly what stack up started; a second down finds nothing running', async () => {
  const pids = ownedPids();
  assert.deepEqual(outcomes(services(await ferry('stack', 'down', '--json'))), all('stopped'));
  for (const pid of pids) assert.equal(processStartTime(pid), undefined, `pid ${pid} is gone`);
  assert.ok(
    (await stackStatus(cfg)).every((s) => !s.answers),
    'nothing answers',
  );
  assert.deepEqual(outcomes(services(await ferry('stack', 'down', '--json'))), all('not running'));

  const text = await ferry('stack', 'down');
  assert.equal(text.status, 0, text.stderr);
  for (const name of SERVICE_NAMES) assert.match(text.stdout, new RegExp(`^${name}\\s+not running$`, 'm'));
  assert.deepEqual(outcomes(services(await ferry('stack', 'up', '--json'))), all('started'));
});

test('stack reset --json - stops the stack and wipes the state dir; stack up starts afresh', async () => {
  const pids = ownedPids();
  const r = await ferry('stack', 'reset', '--json');
  assert.equal(r.status, 0, r.stderr);
  const reset = JSON.parse(r.stdout) as Services & { wiped: string };
  assert.deepEqual(outcomes(reset.services), all('stopped'));
  assert.equal(reset.wiped, cfg.stateDir);
  assert.equal(existsSync(cfg.stateDir), false, 'the state dir is gone');
  for (const pid of pids) assert.equal(processStartTime(pid), undefined, `pid ${pid} is gone`);

  assert.deepEqual(outcomes(services(await ferry('stack', 'up', '--json'))), all('started'));
  assert.ok(
    (await stackStatus(cfg)).every((s) => s.answers),
    'every service answers again',
  );
});

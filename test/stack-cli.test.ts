// `ferry stack logs|down|reset` as an operator runs them, against a private stack of this file's
// own (a temp state dir and free ports; the configured cache, so nothing is downloaded), so the
// stack every other file uses is never stopped or wiped: logs prints each service's own log (one,
// or all three under headers) and refuses bad input in one line; down stops what `stack up`
// started, by its pid files, and a second down finds nothing; reset stops what runs and wipes the
// state dir, not the cache. The tests run in order, each on what the one before left. (`stack up`
// itself, twice and after a down, is test/stack-lifecycle's.)
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { after, before, test } from 'node:test';
import type { Config } from '../infra/config.ts';
import { processStartTime } from '../infra/process/pid-file.ts';
import { SERVICE_NAMES } from '../infra/stack/service.ts';
import { serviceLogPath, servicePidFile, stackServices, startService } from '../infra/stack/stack.ts';
import { temporalBackend } from '../infra/temporal/service.ts';
import type { CliResult } from '../lab/cli.ts';
import { privateStack, type PrivateStack } from './support/private-stack.ts';

let stack: PrivateStack | undefined;
let cfg: Config;

interface Services {
  services: { name: string; outcome: string }[];
}

function services(r: CliResult): Services['services'] {
  assert.equal(r.status, 0, r.stderr);
  return (JSON.parse(r.stdout) as Services).services;
}

const outcomes = (s: Services['services']) => Object.fromEntries(s.map((x) => [x.name, x.outcome]));
/** Every service of this stack: the three, and Temporal's TLS front with FERRY_SECURITY=on. */
const names = () => stackServices(cfg).map((s) => s.name);
const all = (outcome: string) => Object.fromEntries(names().map((n) => [n, outcome]));
const ferry = (...args: string[]) => stack!.ferry(...args);

before(async () => {
  stack = await privateStack('stack-cli');
  cfg = stack.cfg;
  // 'started', not 'external' or 'already running': these are this file's processes, on its ports.
  assert.deepEqual(outcomes(services(await ferry('stack', 'up', '--json'))), all('started'));
});

// Runs even when a test failed: nothing of the private stack outlives the file.
after(async () => {
  await stack?.dispose();
});

/** A line each service writes at start-up that only this stack's instance writes (or its file has). */
const startLine = (): Record<(typeof SERVICE_NAMES)[number], RegExp> => ({
  redis: new RegExp(`Running mode=standalone, port=${cfg.redis.port}\\b`),
  kafka: /\[BrokerServer id=1\] Starting broker/,
  temporal: new RegExp(`^Temporal Server:\\s+\\S+:${temporalBackend(cfg).port}$`, 'm'),
});

test("stack logs - each service's own log, one or all three under headers; bad input is one line", async () => {
  // The last 3 lines of the file (an idle Redis writes nothing in between), and not its start.
  const one = await ferry('stack', 'logs', 'redis', '-n', '3');
  assert.equal(one.status, 0, one.stderr);
  const file = readFileSync(serviceLogPath(cfg, 'redis'), 'utf8').trimEnd().split('\n');
  assert.ok(file.length > 3, `Redis logged more than 3 lines at start-up: ${file.join('\n')}`);
  assert.equal(one.stdout, `${file.slice(-3).join('\n')}\n`);

  // Every header, in order, then that service's log: its start line, and no other's.
  const every = await ferry('stack', 'logs', '-n', '1000');
  assert.equal(every.status, 0, every.stderr);
  const headers = names().map((n) => every.stdout.indexOf(`==> ${n} (${serviceLogPath(cfg, n)}) <==\n`));
  assert.ok(headers[0] === 0 && headers.every((at, i) => i === 0 || at > headers[i - 1]!), every.stdout);
  const marks = startLine();
  for (const [i, name] of names().entries()) {
    const section = every.stdout.slice(headers[i], headers[i + 1]);
    for (const other of SERVICE_NAMES) {
      (other === name ? assert.match : assert.doesNotMatch)(section, marks[other], `${name}'s section`);
    }
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

test('stack down --json - stops each service by its pid file and says so; a second down finds nothing running', async () => {
  const records = names().map((name) => {
    const record = servicePidFile(cfg, name);
    assert.ok(record, `${name} runs under the pid file stack up wrote`);
    return record;
  });
  assert.deepEqual(outcomes(services(await ferry('stack', 'down', '--json'))), all('stopped'));
  for (const { pid, startTime, command } of records) {
    assert.notEqual(processStartTime(pid), startTime, `pid ${pid} (${command.split(' ')[0]}) is gone`);
  }
  for (const spec of stackServices(cfg)) {
    assert.equal(existsSync(spec.pidPath), false, `${spec.name}'s pid file is removed`);
  }

  assert.deepEqual(outcomes(services(await ferry('stack', 'down', '--json'))), all('not running'));
  const text = await ferry('stack', 'down');
  assert.equal(text.status, 0, text.stderr);
  for (const name of names()) assert.match(text.stdout, new RegExp(`^${name}\\s+not running$`, 'm'));
});

test('stack reset --json - stops what runs, wipes the state dir and keeps the cache', async () => {
  // Redis alone is started again (a second; the whole stack would be a JVM start more): reset
  // must stop it by its pid file and find the other two not running.
  assert.equal((await startService(cfg, 'redis', () => undefined)).outcome, 'started');
  const redis = servicePidFile(cfg, 'redis');
  assert.ok(redis, 'Redis runs under a pid file');
  const cached = readdirSync(cfg.cacheDir);
  assert.ok(cached.length > 0, `the cache ${cfg.cacheDir} holds the binaries stack up used`);

  const r = await ferry('stack', 'reset', '--json');
  assert.equal(r.status, 0, r.stderr);
  const reset = JSON.parse(r.stdout) as Services & { wiped: string };
  assert.deepEqual(outcomes(reset.services), { ...all('not running'), redis: 'stopped' });
  assert.notEqual(processStartTime(redis.pid), redis.startTime, `Redis (pid ${redis.pid}) is gone`);
  assert.equal(reset.wiped, cfg.stateDir);
  assert.equal(existsSync(cfg.stateDir), false, `${cfg.stateDir} is gone`);
  // Other files may add to the cache meanwhile; nothing in it may go.
  const left = new Set(readdirSync(cfg.cacheDir));
  assert.deepEqual(
    cached.filter((entry) => !left.has(entry)),
    [],
    'the cache is kept',
  );
});

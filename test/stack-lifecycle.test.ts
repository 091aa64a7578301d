// exclusive: runs `ferry stack up` on the shared stack and checks what it reports.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createServer, type Server } from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { loadConfig } from '../infra/config.ts';
import { processStartTime } from '../infra/process/pid-file.ts';
import { isPortOpen } from '../infra/process/port.ts';
import { servicePidFile, stackDown, stackServices, stackStatus, stackUp } from '../infra/stack/stack.ts';
import type { ServiceName } from '../infra/stack/service.ts';
import { realStack } from '../lab/stack.ts';

const CLI = join(import.meta.dirname, '..', 'cli', 'bin.mjs');

/** Runs the CLI as a user would; asynchronously, so listeners in this process keep answering. */
function ferry(args: string[], env: NodeJS.ProcessEnv = process.env) {
  return new Promise<{ status: number; stdout: string; stderr: string }>((resolve) => {
    execFile(process.execPath, [CLI, ...args], { env, timeout: 300_000 }, (err, stdout, stderr) => {
      const status = err ? (typeof err.code === 'number' ? err.code : 1) : 0;
      resolve({ status, stdout, stderr });
    });
  });
}

test('stack - up twice starts nothing twice; down stops exactly those pids; up again starts new ones that answer on the configured ports', async () => {
  const cfg = await realStack();
  // The three services, and Temporal's TLS front with FERRY_SECURITY=on.
  const names = stackServices(cfg).map((s) => s.name);
  const owned = names.map((name) => servicePidFile(cfg, name));
  assert.ok(
    owned.every((r) => r !== undefined),
    'this test needs the stack started by ferry (not an external one)',
  );

  const again = await ferry(['stack', 'up', '--json']);
  assert.equal(again.status, 0, again.stderr);
  const second = JSON.parse(again.stdout) as { services: { name: string; outcome: string; pid: number }[] };
  for (const s of second.services) {
    assert.equal(s.outcome, 'already running', `${s.name} was not started twice`);
    assert.equal(s.pid, servicePidFile(cfg, s.name as ServiceName)?.pid);
  }

  const down = await stackDown(cfg, () => undefined);
  assert.deepEqual(
    down.map((d) => d.outcome),
    names.map(() => 'stopped'),
  );
  for (const record of owned) {
    assert.equal(processStartTime(record.pid), undefined, `pid ${record.pid} (${record.command}) is gone`);
  }
  for (const port of [cfg.temporal.port, cfg.kafka.port, cfg.redis.port]) {
    assert.equal(await isPortOpen(cfg.bindHost, port), false, `port ${port} was released`);
  }
  const stopped = await stackStatus(cfg);
  assert.ok(stopped.every((s) => !s.answers && s.owner === 'none'));

  const up = await stackUp(cfg, () => undefined);
  assert.deepEqual(
    up.map((u) => u.outcome),
    names.map(() => 'started'),
  );
  // New processes (the old ones are gone, checked above), answering a real request on the ports
  // the old ones had released. (The address stackStatus reports is the configuration's, whatever
  // answers there: comparing it with the configuration could not fail; the probe can.)
  const status = await stackStatus(cfg);
  assert.deepEqual(
    status.map((s) => [s.name, s.answers, s.owner]),
    names.map((name) => [name, true, 'ferry']),
  );
  for (const s of status) assert.ok(s.version, `${s.name} reports a version`);
  for (const [i, name] of names.entries()) {
    const now = servicePidFile(cfg, name);
    assert.ok(now && processStartTime(now.pid) === now.startTime, `${name} runs under a live pid file`);
    assert.notDeepEqual(
      [now.pid, now.startTime],
      [owned[i]!.pid, owned[i]!.startTime],
      `${name} was started anew`,
    );
  }
  for (const port of [cfg.temporal.port, cfg.kafka.port, cfg.redis.port]) {
    assert.equal(await isPortOpen(cfg.bindHost, port), true, `port ${port} is listened on again`);
  }
});

test('stack - a port taken by something else is one clear line and a non-zero exit', async () => {
  const state = mkdtempSync(join(tmpdir(), 'ferry-taken-'));
  const servers: Server[] = [];
  // Plain TCP listeners on every port of a second configuration: none of them speaks the protocol.
  const listen = () =>
    new Promise<number>((resolve) => {
      const server = createServer((socket) => socket.end());
      servers.push(server);
      server.listen(0, '127.0.0.1', () => resolve((server.address() as { port: number }).port));
    });
  try {
    const [t, tui, k, kc, r, tb] = [
      await listen(),
      await listen(),
      await listen(),
      await listen(),
      await listen(),
      await listen(),
    ];
    const env = {
      ...process.env,
      FERRY_STATE_DIR: state,
      FERRY_TEMPORAL_PORT: String(t),
      FERRY_TEMPORAL_UI_PORT: String(tui),
      FERRY_TEMPORAL_BACKEND_PORT: String(tb),
      FERRY_KAFKA_PORT: String(k),
      FERRY_KAFKA_CONTROLLER_PORT: String(kc),
      FERRY_REDIS_PORT: String(r),
    };
    const result = await ferry(['stack', 'up'], env);
    assert.notEqual(result.status, 0);
    const lines = result.stderr.trim().split('\n');
    assert.equal(lines.length, 1, `one line, got:\n${result.stderr}`);
    assert.match(
      lines[0]!,
      /^ferry: [\w-]+: port 127\.0\.0\.1:\d+ is taken by something that is not [\w-]+ — stop that process or choose another port with FERRY_/,
    );
    assert.doesNotMatch(result.stderr, /\n\s+at /, 'no stack trace');
  } finally {
    for (const server of servers) server.close();
    rmSync(state, { recursive: true, force: true });
  }
});

test('stack - a bad setting is refused with one line naming it', async () => {
  const result = await ferry(['stack', 'status'], { ...process.env, FERRY_REDIS_PORT: 'seventy' });
  assert.equal(result.status, 2);
  assert.match(result.stderr.trim(), /^ferry: FERRY_REDIS_PORT="seventy" .+ — fix or unset FERRY_REDIS_PORT/);
  assert.throws(() => loadConfig({ FERRY_BIND_HOST: '10.0.0.1' }), /loopback/);
});

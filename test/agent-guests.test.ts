import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { GuestStandby } from '../hosts/agent/guest-standby.ts';
import { GuestManager } from '../hosts/agent/guests.ts';
import { Outbox } from '../hosts/outbox/outbox.ts';
import { processStartTime } from '../infra/process/pid-file.ts';
import { createLogger } from '../infra/logging/logger.ts';

// Short paths: unix socket paths are limited to 107 bytes.
const hostDir = mkdtempSync(join(tmpdir(), 'fg-'));
const log = createLogger('test-guests', 'error');
const started: number[] = [];

after(() => {
  for (const pid of started) if (processStartTime(pid) !== undefined) process.kill(pid, 'SIGKILL');
  rmSync(hostDir, { recursive: true, force: true });
});

test('agent guests - a guest outlives its agent; a restarted agent reconnects to it; kill ends it and says why', async () => {
  const outbox = new Outbox(hostDir, 'host-a');
  const first = new GuestManager(hostDir, 'host-a', outbox, log, join(hostDir, 'images'));
  const { pid } = await first.start({
    vm: 'vm-1',
    kind: 'emulated',
    memoryMiB: 16,
    dirtyPagesPerSecond: 200,
  });
  started.push(pid);
  assert.equal((await first.qmp('vm-1').execute('query-status')).status, 'running');
  await assert.rejects(
    first.start({ vm: 'vm-1', kind: 'emulated', memoryMiB: 16 }),
    /vm-1 on host-a: a guest of that name already runs here/,
  );
  const before = await first.qmp('vm-1').execute('x-ferry-digest');

  // The agent goes away without stopping anything, as after a SIGKILL.
  first.detachAll();
  const second = new GuestManager(hostDir, 'host-a', outbox, log, join(hostDir, 'images'));
  assert.deepEqual(await second.recover(), { reconnected: ['vm-1'], lost: [] });
  assert.deepEqual(second.list(), [{ vm: 'vm-1', kind: 'emulated', memoryMiB: 16, pid }]);
  // The workload dirties on its own ticks: a reconnect faster than one tick may see no change yet.
  const deadline = Date.now() + 5000;
  let after = await second.qmp('vm-1').execute('x-ferry-digest');
  while (after.digest === before.digest && Date.now() < deadline) {
    await sleep(20);
    after = await second.qmp('vm-1').execute('x-ferry-digest');
  }
  assert.notEqual(after.digest, before.digest, 'the same guest kept running (its workload kept dirtying)');

  await second.kill('vm-1', 'test: operator kill');
  assert.equal(processStartTime(pid), undefined, 'the process is gone');
  assert.equal(existsSync(join(hostDir, 'guests', 'vm-1')), false, 'its state dir is gone');
  assert.deepEqual(second.list(), []);

  const types = readFileSync(join(hostDir, 'outbox.jsonl'), 'utf8')
    .trim()
    .split('\n')
    .map((l) => (JSON.parse(l) as { type: string }).type);
  assert.deepEqual(types, ['guest.defined', 'guest.started', 'guest.reconnected', 'guest.killed']);
  outbox.close();
});

test('agent guests - a guest whose process died while the agent was away is reported lost', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'fg-'));
  try {
    const outbox = new Outbox(dir, 'host-b');
    const first = new GuestManager(dir, 'host-b', outbox, log, join(dir, 'images'));
    const { pid } = await first.start({ vm: 'vm-2', kind: 'emulated', memoryMiB: 8 });
    started.push(pid);
    first.detachAll();
    process.kill(pid, 'SIGKILL');
    const deadline = Date.now() + 5000;
    while (processStartTime(pid) !== undefined && Date.now() < deadline) await sleep(20);
    assert.equal(processStartTime(pid), undefined, 'the SIGKILLed guest is gone within 5 s');
    const second = new GuestManager(dir, 'host-b', outbox, log, join(dir, 'images'));
    assert.deepEqual(await second.recover(), { reconnected: [], lost: ['vm-2'] });
    assert.equal(outbox.peek(10).at(-1)?.type, 'guest.stopped');
    outbox.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('agent guests - a standby process becomes the next emulated guest; the guest is its own and dies alone', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'fg-'));
  const outbox = new Outbox(dir, 'host-s');
  const guests = new GuestManager(dir, 'host-s', outbox, log, join(dir, 'images'));
  guests.standby = new GuestStandby(join(dir, 'standby'), log);
  try {
    guests.standby.refill();
    const standbyPid = readPidFiles(join(dir, 'standby'))[0];
    assert.ok(standbyPid !== undefined, 'a standby process waits, with its pid file');
    const a = await guests.start({ vm: 'vm-a', kind: 'emulated', memoryMiB: 16 });
    started.push(a.pid);
    assert.equal(a.pid, standbyPid, 'vm-a is the standby process, adopted');
    assert.equal(readPidFiles(join(dir, 'guests', 'vm-a'))[0], a.pid, 'with the pid file of vm-a');
    assert.match(readFileSync(join(dir, 'guests', 'vm-a', 'guest.log'), 'utf8'), /emulated guest started/);
    assert.equal((await guests.qmp('vm-a').execute('query-status')).status, 'running');
    // A new standby was started behind the adoption; the next guest takes it.
    const b = await guests.start({ vm: 'vm-b', kind: 'emulated', memoryMiB: 16, paused: true });
    started.push(b.pid);
    assert.notEqual(b.pid, a.pid);
    assert.equal((await guests.qmp('vm-b').execute('query-status')).status, 'prelaunch', 'started paused');
    await guests.kill('vm-a', 'test');
    assert.equal(processStartTime(a.pid), undefined, 'vm-a is gone');
    assert.equal((await guests.qmp('vm-b').execute('query-status')).status, 'prelaunch', 'vm-b lives on');
    // A bad spec is refused before any process is touched, the standby stays for the next guest.
    const waiting = readPidFiles(join(dir, 'standby'))[0];
    await assert.rejects(guests.start({ vm: 'vm-c', kind: 'emulated', memoryMiB: 0 }));
    assert.equal(readPidFiles(join(dir, 'standby'))[0], waiting);
    await guests.kill('vm-b', 'test');
  } finally {
    const waiting = readPidFiles(join(dir, 'standby'))[0];
    guests.standby.stop();
    guests.detachAll();
    outbox.close();
    if (waiting !== undefined) {
      const deadline = Date.now() + 2000;
      while (processStartTime(waiting) !== undefined && Date.now() < deadline) await sleep(20);
      assert.equal(processStartTime(waiting), undefined, 'stop kills the standby');
    }
    rmSync(dir, { recursive: true, force: true });
  }
});

test('agent guests - a standby nobody adopted exits when its agent dies', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'fg-'));
  try {
    // A stand-in agent: a node process that starts a standby, prints its pid, then is SIGKILLed.
    const standbyModule = new URL('../hosts/agent/guest-standby.ts', import.meta.url).href;
    const loggerModule = new URL('../infra/logging/logger.ts', import.meta.url).href;
    const script = `
      const { GuestStandby } = await import(${JSON.stringify(standbyModule)});
      const { createLogger } = await import(${JSON.stringify(loggerModule)});
      new GuestStandby(${JSON.stringify(join(dir, 'standby'))}, createLogger('t', 'error')).refill();
      process.stdout.write('started\\n');
      setInterval(() => undefined, 1000);`;
    const agent = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    await once(agent.stdout, 'data');
    const standbyPid = readPidFiles(join(dir, 'standby'))[0];
    assert.ok(standbyPid !== undefined && processStartTime(standbyPid) !== undefined);
    started.push(standbyPid);
    agent.kill('SIGKILL');
    const deadline = Date.now() + 5000;
    while (processStartTime(standbyPid) !== undefined && Date.now() < deadline) await sleep(50);
    assert.equal(processStartTime(standbyPid), undefined, 'the orphaned standby exited by itself');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

/** The pids in the pid files of a directory (`*.pid`, `guest.pid`), oldest file first. */
function readPidFiles(dir: string): number[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((f) => f.endsWith('.pid'))
    .map((f) => ({ f, t: statSync(join(dir, f)).mtimeMs }))
    .sort((x, y) => x.t - y.t)
    .map(({ f }) => (JSON.parse(readFileSync(join(dir, f), 'utf8')) as { pid: number }).pid);
}

// The emulated guest as a QMP server and as a process: malformed input gets QMP errors (never a
// crash), clients come and go, quit/SIGTERM end it with 0, a bad spec with 2, and it outlives
// the process that started it.
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { createConnection } from 'node:net';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { promisify } from 'node:util';
import { emulatedGuestCommand } from '../hosts/guest-sim/launch.ts';
import { GuestSpecError } from '../hosts/guest-sim/errors.ts';
import { QmpClient } from '../hosts/qmp/client.ts';
import { startGuest } from './support/guest-sim.ts';
import type { TestGuest } from './support/guest-sim.ts';

const started: TestGuest[] = [];
const orphans: number[] = [];
const dirs: string[] = [];
after(async () => {
  await Promise.all(started.map((g) => g.stop()));
  for (const pid of orphans) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // gone already
    }
  }
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
});

async function guest(): Promise<TestGuest> {
  const g = await startGuest({ memoryMiB: 8, dirtyPagesPerSecond: 100 });
  started.push(g);
  return g;
}

/** A raw QMP conversation: sends lines, returns the replies (greeting first). */
async function converse(path: string, lines: string[], replies: number): Promise<Record<string, unknown>[]> {
  const socket = createConnection(path);
  const got: Record<string, unknown>[] = [];
  let buffer = '';
  await new Promise<void>((resolve, reject) => {
    socket.on('error', reject);
    socket.on('data', (d: Buffer) => {
      buffer += d.toString();
      let nl: number;
      while ((nl = buffer.indexOf('\n')) >= 0) {
        got.push(JSON.parse(buffer.slice(0, nl)) as Record<string, unknown>);
        buffer = buffer.slice(nl + 1);
        if (got.length === 1) socket.write(lines.join('\n') + '\n');
        if (got.length === replies + 1) resolve();
      }
    });
  });
  socket.destroy();
  return got.filter((m) => !('event' in m));
}

void test('guest-sim qmp - malformed and unexpected input gets QEMU-style errors, the guest carries on', async () => {
  const g = await guest();
  const replies = await converse(
    join(g.dir, 'qmp.sock'),
    [
      '{"execute":"query-status"}',
      '{"execute":"qmp_capabilities"}',
      '{not json',
      '[1,2]',
      '{"execute":"query-status","bogus":1}',
      '{"arguments":{}}',
      '{"execute":"no-such-command","id":7}',
      '{"execute":"migrate","arguments":{"uri":5},"id":"a"}',
      '{"execute":"migrate","arguments":{"uri":"tcp:1.2.3.4:5"}}',
      '{"execute":"migrate-set-parameters","arguments":{"downtime-limit":-1}}',
      '{"execute":"stop","arguments":{"x":1}}',
      '{"execute":"migrate-incoming","arguments":{"uri":"unix:/tmp/x"}}',
      '{"execute":"qmp_capabilities"}',
      '{"execute":"query-status","id":{"n":1}}',
    ],
    14,
  );
  const [greeting, ...rest] = replies;
  assert.ok(greeting && 'QMP' in greeting);
  const errors = rest.slice(0, 13).map((r) => (r.error as { class: string } | undefined)?.class ?? 'ok');
  assert.deepEqual(errors, [
    'CommandNotFound', // before negotiation
    'ok',
    'GenericError',
    'GenericError',
    'GenericError',
    'GenericError',
    'CommandNotFound',
    'GenericError',
    'GenericError',
    'GenericError',
    'GenericError',
    'GenericError', // not started with incoming defer
    'CommandNotFound', // negotiation already done
  ]);
  assert.equal(rest[6]!.id, 7);
  assert.equal(rest[7]!.id, 'a');
  assert.deepEqual(rest[13], {
    return: { status: 'running', singlestep: false, running: true },
    id: { n: 1 },
  });
});

void test('guest-sim qmp - clients connect one after another and each gets events', async () => {
  const g = await guest();
  g.qmp.close();
  const first = await QmpClient.connect(join(g.dir, 'qmp.sock'));
  const stopped = first.waitForEvent('STOP');
  await first.execute('stop');
  await stopped;
  first.close();
  const second = await QmpClient.connect(join(g.dir, 'qmp.sock'));
  const resumed = second.waitForEvent('RESUME');
  await second.execute('cont');
  const e = await resumed;
  assert.ok(Number.isInteger(e.timestamp.seconds) && e.timestamp.microseconds < 1e6);
  assert.equal((await second.execute('query-status')).status, 'running');
  const params = await second.execute('query-migrate-parameters');
  assert.equal(params['max-bandwidth'], 134217728);
  assert.equal(params['downtime-limit'], 300);
  second.close();
});

void test('guest-sim qmp - quit and SIGTERM end the guest with 0 and remove its socket', async () => {
  const a = await guest();
  const shutdown = a.qmp.waitForEvent('SHUTDOWN');
  await a.qmp.execute('quit');
  await shutdown;
  assert.equal(await a.exited, 0);
  const b = await guest();
  process.kill(b.pid, 'SIGTERM');
  assert.equal(await b.exited, 0);
  await assert.rejects(QmpClient.connect(join(b.dir, 'qmp.sock'), 300));
});

void test('guest-sim qmp - a bad spec is refused before spawning, and by the process with exit 2', async () => {
  assert.throws(() => emulatedGuestCommand({ name: 'x', memoryMiB: 0, qmpSocket: '/tmp/q' }), GuestSpecError);
  assert.throws(
    () => emulatedGuestCommand({ name: 'x', memoryMiB: 1, workingSetPages: 257, qmpSocket: '/tmp/q' }),
    /workingSetPages/,
  );
  const { command, args } = emulatedGuestCommand({ name: 'x', memoryMiB: 1, qmpSocket: '/tmp/q' });
  const bad = [...args.slice(0, -1), '{"name":"x"}'];
  const code = await new Promise<number | null>((resolve) =>
    spawn(command, bad, { stdio: 'ignore' }).once('exit', (c) => resolve(c)),
  );
  assert.equal(code, 2);
});

void test('guest-sim qmp - the guest outlives the process that started it', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'ferry-gsim-orphan-'));
  dirs.push(dir);
  const socket = join(dir, 'qmp.sock');
  const { command, args } = emulatedGuestCommand({ name: 'orphan', memoryMiB: 4, qmpSocket: socket });
  // A parent that spawns the guest detached, prints its pid and exits at once (as a crashing agent).
  const parent = `const c=require('child_process').spawn(${JSON.stringify(command)},${JSON.stringify(args)},{detached:true,stdio:'ignore'});console.log(c.pid);process.exit(0)`;
  const { stdout } = await promisify(execFile)(process.execPath, ['-e', parent]);
  const pid = Number(stdout.trim());
  orphans.push(pid);
  const qmp = await QmpClient.connect(socket, 15_000);
  assert.equal((await qmp.execute('query-status')).status, 'running');
  qmp.close();
  process.kill(pid, 0); // still there
});

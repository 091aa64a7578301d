import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { GuestManager } from '../hosts/agent/guests.ts';
import { Outbox } from '../hosts/agent/outbox.ts';
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
  const after = await second.qmp('vm-1').execute('x-ferry-digest');
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
    while (processStartTime(pid) !== undefined) await new Promise((r) => setTimeout(r, 20));
    const second = new GuestManager(dir, 'host-b', outbox, log, join(dir, 'images'));
    assert.deepEqual(await second.recover(), { reconnected: [], lost: ['vm-2'] });
    assert.equal(outbox.peek(10).at(-1)?.type, 'guest.stopped');
    outbox.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

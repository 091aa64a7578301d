// What a host agent gives its guests and keeps from them, with real guest processes (no services):
// a guest's environment holds nothing of the agent's secrets, QEMU runs under seccomp, guest files
// are the owner's alone, and the agent itself refuses a guest that does not fit.
import assert from 'node:assert/strict';
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { CapacityError } from '../hosts/agent/capacity.ts';
import { GuestManager } from '../hosts/agent/guests.ts';
import { loadOrCreateIdentity } from '../hosts/agent/identity.ts';
import { Outbox } from '../hosts/outbox/outbox.ts';
import { createLogger } from '../infra/logging/logger.ts';
import { processStartTime } from '../infra/process/pid-file.ts';
import { ensureQemu } from '../lab/qemu.ts';

// Short paths: unix socket paths are limited to 107 bytes.
const root = mkdtempSync(join(tmpdir(), 'fh-'));
const log = createLogger('test-hardening', 'error');
const started: number[] = [];
after(() => {
  for (const pid of started) if (processStartTime(pid) !== undefined) process.kill(pid, 'SIGKILL');
  rmSync(root, { recursive: true, force: true });
});

let n = 0;
function manager(capacity?: { memoryMiB: number; maxGuests: number }): GuestManager {
  const dir = join(root, `h${n++}`);
  const m = new GuestManager(dir, 'host-h', new Outbox(root, `host-h${n}`), log, join(root, 'images'));
  m.capacity = capacity;
  return m;
}

/** The variables a process started with, from /proc (what the guest itself can read). */
function environOf(pid: number): Map<string, string> {
  const raw = readFileSync(`/proc/${pid}/environ`, 'utf8');
  return new Map(
    raw
      .split('\0')
      .filter((kv) => kv.includes('='))
      .map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)] as [string, string]),
  );
}

const SECRETS = {
  FERRY_CLUSTER_SECRET: 'x'.repeat(40),
  FERRY_REDIS_URL: 'rediss://agent:hunter2-hunter2@10.0.0.1:16379',
  FERRY_IDENTITY_DIR: '/etc/ferry/identity',
  NODE_OPTIONS: '--require /tmp/evil.js',
};

for (const kind of ['emulated', 'qemu'] as const) {
  test(`agent hardening - ${kind === 'emulated' ? 'an emulated' : 'a QEMU'} guest's environment holds no FERRY_* setting and nothing that loads code`, async () => {
    if (kind === 'qemu') ensureQemu();
    const saved = Object.fromEntries(Object.keys(SECRETS).map((k) => [k, process.env[k]]));
    Object.assign(process.env, SECRETS);
    const guests = manager();
    try {
      const { pid } = await guests.start({ vm: `env-${kind}`, kind, memoryMiB: 16 });
      started.push(pid);
      const env = environOf(pid);
      for (const name of env.keys())
        assert.doesNotMatch(name, /^FERRY_|^NODE_OPTIONS$/, `${name} reached the guest`);
      const all = [...env.values()].join('\n');
      assert.ok(!all.includes('hunter2') && !all.includes(SECRETS.FERRY_CLUSTER_SECRET), 'no secret value');
      assert.equal(env.get('PATH'), process.env.PATH, 'PATH is passed on');
      assert.equal((await guests.qmp(`env-${kind}`).execute('query-status')).status, 'running');
      if (kind === 'qemu') {
        // Seccomp mode 2 is a filter, which only -sandbox on installs in QEMU.
        assert.match(readFileSync(`/proc/${pid}/status`, 'utf8'), /^Seccomp:\s+2$/m);
        assert.match(readFileSync(`/proc/${pid}/cmdline`, 'utf8'), /-sandbox\0on,obsolete=deny,/);
      }
      await guests.kill(`env-${kind}`, 'test over');
    } finally {
      for (const [k, v] of Object.entries(saved)) {
        if (v === undefined) delete process.env[k];
        else process.env[k] = v;
      }
      guests.detachAll();
    }
  });
}

test("agent hardening - a guest's directory is 0700 and its definition, pid file and log 0600, whatever the umask", async () => {
  const old = process.umask(0o022); // a process that did not set ferry's umask
  const guests = manager();
  try {
    const { pid } = await guests.start({ vm: 'modes', kind: 'emulated', memoryMiB: 8 });
    started.push(pid);
    const dir = join(root, `h${n - 1}`, 'guests', 'modes');
    assert.equal(statSync(dir).mode & 0o777, 0o700, 'guest dir');
    assert.equal(statSync(join(root, `h${n - 1}`, 'guests')).mode & 0o777, 0o700, 'guests dir');
    for (const f of ['guest.json', 'guest.pid', 'guest.log']) {
      assert.equal(statSync(join(dir, f)).mode & 0o777, 0o600, f);
    }
    await guests.kill('modes', 'test over');
  } finally {
    process.umask(old);
    guests.detachAll();
  }
});

test('agent hardening - two starts racing for the last room: one runs, the other is refused naming host, VM and phase', async () => {
  const guests = manager({ memoryMiB: 64, maxGuests: 8 });
  try {
    const results = await Promise.allSettled([
      guests.start({ vm: 'race-a', kind: 'emulated', memoryMiB: 48 }),
      guests.start({ vm: 'race-b', kind: 'emulated', memoryMiB: 48 }, 'mig-1'),
    ]);
    for (const r of results) if (r.status === 'fulfilled') started.push(r.value.pid);
    assert.deepEqual(
      results.map((r) => r.status),
      ['fulfilled', 'rejected'],
    );
    const err = (results[1] as PromiseRejectedResult).reason as CapacityError;
    assert.ok(err instanceof CapacityError, String(err));
    assert.deepEqual(
      [err.code, err.host, err.vm, err.phase],
      ['CapacityShort', 'host-h', 'race-b', 'prepare'],
    );
    assert.match(
      err.message,
      /prepare of race-b on host-h refused: host-h has 16 MiB free of 64, race-b needs 48 MiB/,
    );
    assert.equal(guests.usedMemoryMiB(), 48);
    // Prepare's own early check (checkRoom) says the same before anything is taken.
    assert.throws(() => guests.checkRoom('race-c', 32, 'prepare'), /prepare of race-c on host-h refused/);
    await guests.kill('race-a', 'test over');
  } finally {
    guests.detachAll();
  }
});

test('agent hardening - a host at its guest limit refuses one more, however small', async () => {
  const guests = manager({ memoryMiB: 1024, maxGuests: 2 });
  try {
    for (const vm of ['slot-a', 'slot-b'])
      started.push((await guests.start({ vm, kind: 'emulated', memoryMiB: 8 })).pid);
    await assert.rejects(guests.start({ vm: 'slot-c', kind: 'emulated', memoryMiB: 8 }), (err: Error) => {
      assert.ok(err instanceof CapacityError);
      assert.equal(err.phase, 'start');
      assert.match(err.message, /start of slot-c on host-h refused: host-h runs 2 of its 2 guests/);
      return true;
    });
    for (const vm of ['slot-a', 'slot-b']) await guests.kill(vm, 'test over');
  } finally {
    guests.detachAll();
  }
});

test('agent hardening - an agent closes a host state dir that an older ferry left open to others', () => {
  const dir = join(root, 'old-host');
  mkdirSync(dir, { recursive: true, mode: 0o755 });
  chmodSync(dir, 0o755);
  loadOrCreateIdentity(dir, 'old-host');
  assert.equal(statSync(dir).mode & 0o777, 0o700);
});

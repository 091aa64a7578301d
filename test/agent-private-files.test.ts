// A host agent started as an operator starts it (`ferry host start`), from a test process with the
// usual umask 022: everything under the host's state dir is its user's alone, and its guests (an
// emulated one and a QEMU) see none of the agent's FERRY_* settings; QEMU runs under seccomp.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { hostStateDir } from '../hosts/agent/identity.ts';
import type { Config } from '../infra/config.ts';
import { processStartTime } from '../infra/process/pid-file.ts';
import { ferry, ferryWithEnv } from '../lab/cli.ts';
import { ensureQemu } from '../lab/qemu.ts';
import { realStack, uniqueName } from '../lab/stack.ts';

const host = uniqueName('host');
const vms = { emulated: uniqueName('vm'), qemu: uniqueName('vm') };
let cfg: Config;
const pids: number[] = [];

before(async () => {
  cfg = await realStack();
});

after(async () => {
  for (const vm of Object.values(vms)) await ferry('guest', 'kill', vm);
  await ferry('host', 'stop', host);
  for (const pid of pids) if (processStartTime(pid) !== undefined) process.kill(pid, 'SIGKILL');
});

/** Every path under `dir` (itself included) whose mode lets the group or others in. */
function openToOthers(dir: string): string[] {
  const open: string[] = [];
  const walk = (p: string): void => {
    const st = statSync(p);
    if ((st.mode & 0o077) !== 0) open.push(`${p} ${(st.mode & 0o777).toString(8)}`);
    if (st.isDirectory()) for (const e of readdirSync(p)) walk(join(p, e));
  };
  walk(dir);
  return open;
}

test('agent private files - the host dir, outbox, pid files, logs and guest sockets are 0700/0600; guests get no FERRY_* setting', async () => {
  ensureQemu();
  assert.equal(process.umask() & 0o077, 0o022 & 0o077, 'the test itself runs with the usual umask');
  // A credential-looking setting the agent inherits (it must not pass it on).
  const env = { FERRY_CLUSTER_SECRET: 's'.repeat(48) };
  const up = await ferryWithEnv(env, 240_000, 'host', 'start', host, '--memory', '1024', '--detach');
  assert.equal(up.status, 0, up.stderr);
  for (const [kind, vm] of Object.entries(vms)) {
    const r = await ferryWithEnv(
      env,
      240_000,
      'guest',
      'start',
      vm,
      '--host',
      host,
      '--memory',
      '16',
      '--kind',
      kind,
    );
    assert.equal(r.status, 0, r.stderr);
    const pid = Number(/pid (\d+)/.exec(r.stdout)?.[1]);
    pids.push(pid);
    const environ = readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0');
    assert.deepEqual(
      environ.filter((kv) => kv.startsWith('FERRY_')),
      [],
      `${kind} guest environment`,
    );
    if (kind === 'qemu') assert.match(readFileSync(`/proc/${pid}/status`, 'utf8'), /^Seccomp:\s+2$/m);
  }
  const dir = hostStateDir(cfg.stateDir, host);
  const files = readdirSync(join(dir, 'guests', vms.emulated));
  assert.ok(files.includes('qmp.sock') && files.includes('guest.pid'), files.join(', '));
  assert.deepEqual(openToOthers(dir), []);
});

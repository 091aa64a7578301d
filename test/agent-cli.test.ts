import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { hostStateDir } from '../hosts/agent/identity.ts';
import type { Config } from '../infra/config.ts';
import { processStartTime } from '../infra/process/pid-file.ts';
import { ferry } from '../lab/cli.ts';
import { readEvents } from './support/events.ts';
import { realStack, uniqueName } from '../lab/stack.ts';

const host = uniqueName('host');
const vm = uniqueName('vm');
let cfg: Config;
const pids: number[] = [];

const agentPid = () =>
  (JSON.parse(readFileSync(join(hostStateDir(cfg.stateDir, host), 'agent.pid'), 'utf8')) as { pid: number })
    .pid;

before(async () => {
  cfg = await realStack();
});

after(async () => {
  await ferry('guest', 'kill', vm);
  await ferry('host', 'stop', host);
  for (const pid of pids) if (processStartTime(pid) !== undefined) process.kill(pid, 'SIGKILL');
});

test('agent cli - host and guest commands, refusals, and an agent SIGKILLed and restarted finding its guest', async () => {
  const up = await ferry('host', 'start', host, '--address', '127.0.0.3', '--memory', '1024', '--detach');
  assert.equal(up.status, 0, up.stderr);
  assert.match(up.stdout, new RegExp(`host ${host} up: pid \\d+, task queue host\\.${host}`));
  pids.push(agentPid());

  const start = await ferry('guest', 'start', vm, '--host', host, '--memory', '32', '--dirty-rate', '50');
  assert.equal(start.status, 0, start.stderr);
  const guestPid = Number(/pid (\d+)/.exec(start.stdout)?.[1]);
  pids.push(guestPid);

  for (const [args, pattern] of [
    [
      ['guest', 'start', vm, '--host', host, '--memory', '32'],
      new RegExp(`a guest named ${vm} already runs on ${host}`),
    ],
    [
      ['guest', 'start', uniqueName('vm'), '--host', 'no-such-host', '--memory', '32'],
      /unknown host no-such-host/,
    ],
    [
      ['guest', 'start', uniqueName('vm'), '--host', host, '--memory', '4096'],
      /has 992 MiB free, .* needs 4096 MiB/,
    ],
    [['guest', 'start', 'Bad Name', '--host', host, '--memory', '32'], /invalid input: vm: lower-case/],
  ] as const) {
    const r = await ferry(...args);
    assert.notEqual(r.status, 0, `refused: ${args.join(' ')}`);
    assert.match(r.stderr, pattern);
    assert.equal(r.stderr.trim().split('\n').length, 1, `one line: ${r.stderr}`);
  }

  const digest = await ferry('guest', 'digest', vm, '--json');
  assert.equal(digest.status, 0, digest.stderr);
  const d = JSON.parse(digest.stdout) as Record<string, string>;
  assert.deepEqual(Object.keys(d).sort(), ['digest', 'host', 'vm']);
  assert.equal(d.vm, vm);
  assert.equal(d.host, host);
  assert.match(d.digest!, /^[0-9a-f]{64}$/);

  // SIGKILL the agent: the guest keeps running; a new agent reconnects to it.
  process.kill(agentPid(), 'SIGKILL');
  await sleep(500);
  assert.ok(processStartTime(guestPid) !== undefined, 'the guest outlived its agent');
  const again = await ferry('host', 'start', host, '--address', '127.0.0.3', '--memory', '1024', '--detach');
  assert.equal(again.status, 0, again.stderr);
  pids.push(agentPid());
  const after = await ferry('guest', 'digest', vm, '--json');
  assert.equal(after.status, 0, after.stderr);
  assert.notEqual(
    (JSON.parse(after.stdout) as { digest: string }).digest,
    d.digest,
    'same guest, still dirtying',
  );

  const kill = await ferry('guest', 'kill', vm);
  assert.equal(kill.status, 0, kill.stderr);
  assert.equal(processStartTime(guestPid), undefined, 'the guest process is gone');
  const stop = await ferry('host', 'stop', host);
  assert.equal(stop.status, 0, stop.stderr);
  for (const pid of pids) assert.equal(processStartTime(pid), undefined, `pid ${pid} is gone`);

  // The event log tells the same story, in order, for this VM.
  const story = await readEvents(
    cfg,
    (e) => e.vm === vm,
    (events) => events.length >= 6,
  );
  // Its disk lease is taken before it starts and given back once it is gone.
  assert.deepEqual(
    story.map((e) => e.type),
    ['disk.leased', 'guest.defined', 'guest.started', 'guest.reconnected', 'guest.killed', 'disk.released'],
  );
  assert.ok(story.every((e) => e.host === host));
});

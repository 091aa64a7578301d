// `ferry migration info|set|abort ID` as an operator runs them on a migration that is running (here
// started on a controller of the test's own: the commands find a migration by its id alone): info
// says where it is, set changes its limits while Perform runs, abort rolls it back; an id nobody
// knows is one line and exit 2.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { Redis } from 'ioredis';
import type { Config } from '../infra/config.ts';
import { processStartTime } from '../infra/process/pid-file.ts';
import { createRedis } from '../infra/redis/client.ts';
import type { MigrationProgressView } from '../protocol/migration.ts';
import { twoAgents, type TwoAgents } from '../lab/agents.ts';
import { ferry } from '../lab/cli.ts';
import { assertSettled } from '../lab/cluster-state.ts';
import { startTestController, type TestController } from '../lab/migrate.ts';
import { realStack, uniqueName } from '../lab/stack.ts';

let cfg: Config;
let redis: Redis;
let ctl: TestController;
let agents: TwoAgents;

before(async () => {
  cfg = await realStack();
  redis = createRedis(cfg, 'test-migration-cli');
  agents = await twoAgents(cfg, ['127.0.0.160', '127.0.0.161'], { memoryMiB: 512 });
  ctl = await startTestController(cfg);
});

after(async () => {
  await ctl?.stop();
  await agents?.stop();
  redis?.disconnect();
});

/**
 * A guest whose migration cannot converge at 1 MiB/s: 96 MiB, rewriting 3000 pages (12 MiB) a
 * second, warmed up so its memory is not zeros.
 */
async function busyGuest(): Promise<{ vm: string; sameProcess: () => boolean }> {
  const vm = uniqueName('vm');
  const pid = await agents.startGuest(vm, '--memory', '96', '--dirty-rate', '3000');
  const started = processStartTime(pid);
  await new Promise((r) => setTimeout(r, 2000));
  return { vm, sameProcess: () => started !== undefined && processStartTime(pid) === started };
}

async function info(id: string): Promise<MigrationProgressView> {
  const r = await ferry('migration', 'info', id, '--json');
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.stdout) as MigrationProgressView;
}

test('ferry migration info and set - a running Perform held to 1 MiB/s is shown, then sped up by set and completes', async () => {
  const { vm } = await busyGuest();
  const { source, destination } = agents;
  const handle = await ctl.start({ vm, source, destination, bandwidthMiBps: 1, maxDowntimeMs: 300 });
  const id = handle.workflowId;
  await ctl.waitFor(handle, (p) => p.phase === 'perform' && (p.transfer?.transferred ?? 0) > 0);

  const text = await ferry('migration', 'info', id);
  assert.equal(text.status, 0, text.stderr);
  assert.match(
    text.stdout,
    new RegExp(
      `^${id}: ${vm} ${source} → ${destination}, running in perform, \\w+: [\\d.]+ MiB sent, [\\d.]+ MiB left, \\d+ passes, .*downtime limit 300 ms, bandwidth 1 MiB/s\\n$`,
    ),
  );
  const firstAsked = Date.now();
  const first = await info(id);
  assert.deepEqual(
    [first.state, first.phase, first.maxDowntimeMs, first.bandwidthMiBps],
    ['running', 'perform', 300, 1],
  );
  // The limit holds. The two samples are at most `window` apart (each is read somewhere inside
  // its `ferry` command, which takes a second or more on a loaded machine), so at 1 MiB/s at most
  // `window` MiB more, plus one second's allowance for QEMU's 100 ms windows and a sample taken
  // before its command ran. Unthrottled, this guest would send hundreds of MiB.
  await new Promise((r) => setTimeout(r, 3000));
  const later = await info(id);
  const window = (Date.now() - firstAsked) / 1000;
  const sent = (later.transfer?.transferred ?? 0) - (first.transfer?.transferred ?? 0);
  assert.ok(sent < (window + 1) * 1048576, `${sent} bytes in at most ${window.toFixed(1)} s at 1 MiB/s`);
  assert.equal(later.state, 'running', 'it cannot converge at 1 MiB/s');

  const set = await ferry('migration', 'set', id, '--max-downtime', '700', '--bandwidth', '2000');
  assert.equal(set.status, 0, set.stderr);
  assert.equal(set.stdout, `${id}: limits sent\n`);
  const changed = await info(id);
  assert.deepEqual([changed.maxDowntimeMs, changed.bandwidthMiBps], [700, 2000]);
  const setAt = Date.now();
  const report = await handle.result();
  assert.equal(report.outcome, 'completed', JSON.stringify(report.firstError));
  assert.ok(Date.now() - setAt < 60_000, 'the new bandwidth reached QEMU: it converged');
  assert.equal(report.digests.destination, report.digests.source);
  const done = await info(id);
  assert.deepEqual([done.state, done.phase], ['done', 'confirm'], 'info on a migration that ended');
  await assertSettled(cfg, redis, vm, [source, destination], { runsOn: destination });
});

test('ferry migration abort - a running Perform rolls back: exit 3, first error Aborted, the guest runs on in the same process', async () => {
  const { vm, sameProcess } = await busyGuest();
  const { source, destination } = agents;
  const handle = await ctl.start({ vm, source, destination, bandwidthMiBps: 1 });
  const id = handle.workflowId;
  await ctl.waitFor(handle, (p) => p.phase === 'perform' && (p.transfer?.transferred ?? 0) > 0);
  const r = await ferry('migration', 'abort', id);
  assert.equal(r.status, 3, r.stderr);
  assert.match(
    r.stdout,
    new RegExp(`^${id}: ${vm} rolled-back: .*\\(Aborted\\); ${vm} runs on ${source}\\n$`),
  );
  const report = await handle.result();
  assert.equal(report.outcome, 'rolled-back');
  assert.equal(report.aborted, true);
  assert.deepEqual([report.firstError?.phase, report.firstError?.type], ['perform', 'Aborted']);
  await assertSettled(cfg, redis, vm, [source, destination], { runsOn: source });
  assert.ok(sameProcess(), 'the source guest kept running in the same process');
});

test('ferry migration - an unknown id, or set without a limit, is one line and exit 2', async () => {
  const id = uniqueName('m-nobody');
  for (const args of [
    ['info', id],
    ['info', id, '--json'],
    ['set', id, '--bandwidth', '10'],
    ['abort', id],
  ]) {
    const r = await ferry('migration', ...args);
    assert.equal(r.status, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, new RegExp(`^ferry: no migration ${id} — `));
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
    assert.equal(r.stdout, '');
  }
  for (const [args, pattern] of [
    [['set', id], /give --max-downtime or --bandwidth/],
    [['set', id, '--bandwidth', '0'], /bandwidthMiBps/],
    [['set', id, '--max-downtime', 'soon'], /maxDowntimeMs/],
  ] as const) {
    const r = await ferry('migration', ...args);
    assert.equal(r.status, 2, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, pattern);
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
  }
});

// What `ferry migrate` and `ferry drain` promise when they end otherwise than by success: Ctrl-C
// (SIGINT to the command) aborts the migration, waits for the rollback and exits 3 (rolled back);
// a migration whose compensation cannot complete exits 4 and says to check both hosts; Ctrl-C on
// a drain cancels it (those in flight roll back) and exits 3.
// exclusive: uses the operator's controller (ferry migrate and ferry drain start one if none runs).
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import type { Client } from '@temporalio/client';
import type { Redis } from 'ioredis';
import { drainWorkflowId } from '../cli/cluster-client.ts';
import type { Config } from '../infra/config.ts';
import { processStartTime } from '../infra/process/pid-file.ts';
import { createRedis } from '../infra/redis/client.ts';
import { connectClient } from '../infra/temporal/connect.ts';
import { twoAgents, type TwoAgents } from '../lab/agents.ts';
import { ferry } from '../lab/cli.ts';
import { assertSettled, guestStatusOn } from '../lab/cluster-state.ts';
import { realStack, uniqueName } from '../lab/stack.ts';
import type { ClusterOpProgress } from '../protocol/cluster.ts';
import type { MigrationReport } from '../protocol/migration.ts';
import { clusterOpProgress } from '../workflows/cluster/messages.ts';
import { progress } from '../workflows/migration/messages.ts';

const CLI = join(import.meta.dirname, '..', 'cli', 'bin.mjs');
let cfg: Config;
let redis: Redis;
let client: Client;
let agents: TwoAgents;
let controllerWasRunning = false;

before(async () => {
  cfg = await realStack();
  redis = createRedis(cfg, 'test-migrate-interrupt');
  client = await connectClient(cfg);
  controllerWasRunning = (await ferry('controller', 'status')).stdout.includes('runs');
  agents = await twoAgents(cfg, ['127.0.0.173', '127.0.0.174'], { memoryMiB: 512 });
});

after(async () => {
  // A command a failed test left following its migration or drain would keep this file running.
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  await agents?.stop();
  await client?.connection.close();
  redis?.disconnect();
  // Stop only a controller this test started.
  if (!controllerWasRunning) await ferry('controller', 'stop');
});

const children: ChildProcess[] = [];

/** `ferry ...` in a child process of its own, so the test can signal it while it runs. */
function command(...args: string[]) {
  const child = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(child);
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (b: Buffer) => (stdout += b.toString()));
  child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
  const exited = new Promise<{ status: number | null; stdout: string; stderr: string }>((resolve) =>
    child.once('exit', (status) => resolve({ status, stdout, stderr })),
  );
  return {
    child,
    exited,
    /** Waits (at most 60 s) until stderr matches `pattern`; its first group. */
    async stderrMatch(pattern: RegExp): Promise<string> {
      const deadline = Date.now() + 60_000;
      for (;;) {
        const m = pattern.exec(stderr);
        if (m) return m[1] ?? m[0];
        assert.ok(Date.now() < deadline, `stderr never matched ${pattern}: ${stderr}`);
        assert.equal(child.exitCode, null, `the command ended early: ${stdout}${stderr}`);
        await new Promise((r) => setTimeout(r, 100));
      }
    },
  };
}

/**
 * Polls until `until` holds (at most 60 s). A read may fail while the workflow is only starting;
 * the last failure is kept for the message.
 */
async function waitUntil<T>(what: string, read: () => Promise<T>, until: (v: T) => boolean): Promise<T> {
  const deadline = Date.now() + 60_000;
  for (let last = 'nothing read'; ;) {
    const v = await read().then(
      (value) => ({ value }),
      (err: Error) => err,
    );
    if (v instanceof Error) last = v.message;
    else if (until(v.value)) return v.value;
    else last = JSON.stringify(v.value);
    assert.ok(Date.now() < deadline, `${what}: never happened (last: ${last})`);
    await new Promise((r) => setTimeout(r, 150));
  }
}

/** A guest that cannot converge at 1 MiB/s: 96 MiB rewriting 12 MiB a second. */
async function busyGuest(): Promise<{ vm: string; pid: number; sameProcess: () => boolean }> {
  const vm = uniqueName('vm');
  const pid = await agents.startGuest(vm, '--memory', '96', '--dirty-rate', '3000');
  const started = processStartTime(pid);
  return { vm, pid, sameProcess: () => started !== undefined && processStartTime(pid) === started };
}

/** Starts `ferry migrate` at 1 MiB/s and waits until its Perform sends; the migration's id. */
async function migrateInPerform(vm: string) {
  const run = command('migrate', vm, '--to', agents.destination, '--bandwidth', '1');
  const id = await run.stderrMatch(/^migration (\S+): /m);
  await waitUntil(
    `${id} sending in Perform`,
    () => client.workflow.getHandle(id).query(progress),
    (p) => p.phase === 'perform' && (p.transfer?.transferred ?? 0) > 0,
  );
  return { run, id };
}

test('ferry migrate - Ctrl-C during Perform aborts it and waits for the rollback: exit 3, the guest runs on in the source', async () => {
  const { vm, sameProcess } = await busyGuest();
  const { run, id } = await migrateInPerform(vm);
  run.child.kill('SIGINT');
  const r = await run.exited;
  assert.equal(r.status, 3, r.stdout + r.stderr);
  assert.match(r.stderr, /aborting: the migration rolls back…/);
  assert.match(
    r.stdout,
    new RegExp(`^${id}: ${vm} rolled-back: .*\\(Aborted\\); ${vm} runs on ${agents.source}\\n$`),
  );
  const report = (await client.workflow.getHandle(id).result()) as MigrationReport;
  assert.equal(report.aborted, true);
  assert.deepEqual([report.firstError?.phase, report.firstError?.type], ['perform', 'Aborted']);
  await assertSettled(cfg, redis, vm, [agents.source, agents.destination], { runsOn: agents.source });
  assert.ok(sameProcess(), 'the source guest kept running in the same process');
});

test('ferry migrate - the source guest dies during Perform: nothing can be resumed, exit 4 and the report says to check both hosts', async () => {
  const { vm, pid } = await busyGuest();
  const { run, id } = await migrateInPerform(vm);
  process.kill(pid, 'SIGKILL');
  const r = await run.exited;
  assert.equal(r.status, 4, r.stdout + r.stderr);
  assert.match(
    r.stdout,
    new RegExp(
      `^${id}: ${vm} failed: .*; compensation did not complete — check ${vm} on ${agents.source} and ${agents.destination}\\n$`,
    ),
  );
  const report = (await client.workflow.getHandle(id).result()) as MigrationReport;
  assert.equal(report.outcome, 'failed');
  assert.equal(report.firstError?.phase, 'perform');
  const confirm = report.phases.at(-1);
  assert.deepEqual([confirm?.name, confirm?.mode, confirm?.result], ['confirm', 'cancelled', 'failed']);
  const incoming = await guestStatusOn(cfg, agents.destination, vm);
  assert.equal(incoming, undefined, 'the incoming guest was killed by the cancelled Finish');
});

test('ferry drain - Ctrl-C cancels the drain: its migrations in flight roll back, exit 3, every guest still on the host', async () => {
  // A host of its own, so the drain moves only this test's guests.
  const host = uniqueName('host');
  const up = await ferry('host', 'start', host, '--address', '127.0.0.175', '--memory', '512', '--detach');
  assert.equal(up.status, 0, up.stderr);
  const { destination } = agents;
  const guests: { vm: string; sameProcess: () => boolean }[] = [];
  try {
    const vms = [uniqueName('vm'), uniqueName('vm')];
    for (const [vm, r] of await Promise.all(
      vms.map(async (vm) => {
        const args = ['--host', host, '--memory', '96', '--dirty-rate', '3000'];
        return [vm, await ferry('guest', 'start', vm, ...args)] as const;
      }),
    )) {
      assert.equal(r.status, 0, r.stderr);
      const pid = Number(/pid (\d+)/.exec(r.stdout)?.[1]);
      const started = processStartTime(pid);
      guests.push({ vm, sameProcess: () => started !== undefined && processStartTime(pid) === started });
    }
    const run = command('drain', host, '--to', destination, '--bandwidth', '1');
    await run.stderrMatch(new RegExp(`^draining ${host} \\(drain-${host}\\)`, 'm'));
    const drainHandle = client.workflow.getHandle(drainWorkflowId(host));
    const view = await waitUntil(
      'both migrations in flight',
      () => drainHandle.query(clusterOpProgress),
      (v: ClusterOpProgress) => v.guests.filter((g) => g.state === 'migrating').length === 2,
    );
    for (const g of view.guests) {
      await waitUntil(
        `${g.vm} sending in Perform`,
        () => client.workflow.getHandle(g.migrationId!).query(progress),
        (p) => p.phase === 'perform' && (p.transfer?.transferred ?? 0) > 0,
      );
    }
    run.child.kill('SIGINT');
    const r = await run.exited;
    assert.equal(r.status, 3, r.stdout + r.stderr);
    assert.match(r.stderr, new RegExp(`cancelling drain ${host}: no new migrations`));
    assert.match(
      r.stdout,
      new RegExp(`^drain of ${host} \\(cancelled\\): 0 moved, 2 not moved, 0 not started`),
    );
    for (const g of guests) {
      await assertSettled(cfg, redis, g.vm, [host, destination], { runsOn: host });
      assert.ok(g.sameProcess(), `${g.vm} kept running in the same process`);
    }
  } finally {
    for (const g of guests) await ferry('guest', 'kill', g.vm);
    await ferry('host', 'stop', host);
    await ferry('undrain', host);
  }
});

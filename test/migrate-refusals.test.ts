// What the protocol refuses: the same host, a VM already migrating, a changing operation during a
// migration, a tampered cookie, a cookie of another migration, a cookie naming a mandatory feature
// this host does not know, a cookie from this very host; and autokill when the workflow dies.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { WorkflowFailedError } from '@temporalio/client';
import type { Redis } from 'ioredis';
import { cookieKeySource, formatCookie } from '../protocol/cookie/index.ts';
import { keyringsOf } from '../infra/temporal/data-converter.ts';
import { hostStateDir } from '../hosts/agent/identity.ts';
import type { Config } from '../infra/config.ts';
import { createRedis } from '../infra/redis/client.ts';
import { AutokillLeases } from '../infra/redis/autokill.ts';
import { JobStore } from '../infra/redis/jobs.ts';
import { resume } from '../workflows/migration/messages.ts';
import { ferry } from '../lab/cli.ts';
import { assertSettled } from '../lab/cluster-state.ts';
import { readEvents } from './support/events.ts';
import { startTestController, type TestController } from '../lab/migrate.ts';
import { realStack, uniqueName } from '../lab/stack.ts';

const [hostA, hostB] = [uniqueName('host'), uniqueName('host')];
const hosts = [hostA, hostB];
let cfg: Config;
let ctl: TestController;
let redis: Redis;

before(async () => {
  cfg = await realStack();
  redis = createRedis(cfg, 'test-refusals');
  for (const [h, ip] of [
    [hostA, '127.0.0.17'],
    [hostB, '127.0.0.18'],
  ] as const) {
    const r = await ferry('host', 'start', h, '--address', ip, '--memory', '1024', '--detach');
    assert.equal(r.status, 0, r.stderr);
  }
  ctl = await startTestController(cfg);
});

after(async () => {
  await ctl?.stop();
  for (const h of hosts) await ferry('host', 'stop', h);
  redis?.disconnect();
});

async function guest(): Promise<string> {
  const vm = uniqueName('vm');
  const r = await ferry('guest', 'start', vm, '--host', hostA, '--memory', '64');
  assert.equal(r.status, 0, r.stderr);
  return vm;
}

/** One phase activity on one host, as the workflow would call it; returns its value or its failure type. */
async function onHost(
  host: string,
  op: string,
  input: unknown,
): Promise<{ value?: unknown; type?: string; message?: string }> {
  try {
    const value: unknown = await ctl.client.workflow.execute('hostOperation', {
      taskQueue: `host.${host}`,
      workflowId: `test-op-${randomUUID()}`,
      args: [op, [input]],
    });
    return { value };
  } catch (err) {
    assert.ok(err instanceof WorkflowFailedError, String(err));
    let cause: unknown = err.cause;
    while (cause instanceof Error && cause.cause && !('type' in cause && cause.type)) cause = cause.cause;
    return { type: (cause as { type?: string }).type, message: (cause as Error).message };
  }
}

test('migrate - refuses the same host', async () => {
  const vm = await guest();
  const report = await ctl.run({ vm, source: hostA, destination: hostA });
  assert.equal(report.outcome, 'rolled-back');
  assert.equal(report.firstError?.type, 'SameHost');
  await assertSettled(cfg, redis, vm, hosts, { runsOn: hostA });
  await ferry('guest', 'kill', vm);
});

test('migrate - refuses a second migration of a VM already migrating, and changing operations meanwhile', async () => {
  const vm = await guest();
  const first = await ctl.start({ vm, source: hostA, destination: hostB, holdBefore: ['perform'] });
  await ctl.waitFor(first, (p) => p.state === 'held');
  const second = await ctl.run({ vm, source: hostA, destination: hostB });
  assert.equal(second.outcome, 'rolled-back');
  assert.equal(second.firstError?.type, 'JOB_BUSY');
  assert.match(second.firstError?.message ?? '', /MIGRATION_OUT/);
  const kill = await ferry('guest', 'kill', vm);
  assert.notEqual(kill.status, 0, 'kill is refused while the migration holds the VM');
  assert.match(kill.stderr, /MIGRATION_OUT/);
  assert.equal(
    (await new JobStore(redis).get(vm, hostA))?.owner,
    first.workflowId,
    'the first keeps its job',
  );
  await first.signal(resume);
  assert.equal((await first.result()).outcome, 'completed');
  await assertSettled(cfg, redis, vm, hosts, { runsOn: hostB });
  await ferry('guest', 'kill', vm);
});

test('migrate - Prepare refuses tampered, foreign, unknown-feature and same-host cookies, starting nothing', async () => {
  const vm = await guest();
  const migrationId = `m-${randomUUID()}`;
  const begun = await onHost(hostA, 'srcBegin', { migrationId, vm, destination: hostB });
  const { cookie, definition } = begun.value as { cookie: string; definition: never };
  const prepare = (c: string, id = migrationId) =>
    onHost(hostB, 'dstPrepare', { migrationId: id, vm, source: hostA, cookie: c, autokillTtlMs: 10_000 });

  // A character of the payload changed: the 11th, past a key id and its dot when there is one.
  const flipped = cookie.slice(0, 10) + (cookie[10] === 'A' ? 'B' : 'A') + cookie.slice(11);
  assert.equal((await prepare(flipped)).type, 'COOKIE_BAD_SIGNATURE');
  assert.equal(
    (await prepare(cookie, `m-${randomUUID()}`)).type,
    'COOKIE_MISMATCH',
    'replayed into another migration',
  );

  // The cluster's own keys (the keyring's current one when it is on), so only what is tested fails.
  const secret = await cookieKeySource(cfg, keyringsOf(cfg)).keyring();
  const uuidOf = (h: string) =>
    (
      JSON.parse(readFileSync(join(hostStateDir(cfg.stateDir, h), 'identity.json'), 'utf8')) as {
        uuid: string;
      }
    ).uuid;
  const base = { migrationId, vm, phase: 'begin' as const, to: hostB, definition };
  const future = formatCookie({ ...base, from: { host: hostA, uuid: uuidOf(hostA) } }, secret, {
    extraFeatures: [{ name: 'futurenbd', mandatory: true, data: { port: 1 } }],
  });
  const unknown = await prepare(future);
  assert.equal(unknown.type, 'COOKIE_UNKNOWN_FEATURE');
  assert.match(unknown.message ?? '', /futurenbd/);
  const fromItself = formatCookie({ ...base, from: { host: 'elsewhere', uuid: uuidOf(hostB) } }, secret);
  assert.equal((await prepare(fromItself)).type, 'COOKIE_SAME_HOST');

  assert.equal(await new JobStore(redis).get(vm, hostB), undefined, 'no MIGRATION_IN job on the destination');
  assert.equal(await new AutokillLeases(redis).holder(vm), undefined, 'no autokill lease');
  await onHost(hostA, 'srcConfirm', { migrationId, vm, destination: hostB, cookie: null, cancelled: true });
  await assertSettled(cfg, redis, vm, hosts, { runsOn: hostA });
  await ferry('guest', 'kill', vm);
});

test('migrate - autokill: a workflow terminated after Prepare leaves no incoming guest, and the source settles', async () => {
  const vm = await guest();
  const handle = await ctl.start({
    vm,
    source: hostA,
    destination: hostB,
    holdBefore: ['perform'],
    autokillTtlMs: 3000,
  });
  await ctl.waitFor(handle, (p) => p.state === 'held');
  assert.equal((await new AutokillLeases(redis).holder(vm))?.host, hostB);
  const terminatedAt = Date.now();
  await handle.terminate('test: the controller is gone');
  const events = await readEvents(
    cfg,
    (e) => e.vm === vm && e.type === 'guest.killed' && e.host === hostB,
    (found) => found.length > 0,
  );
  const killedAt = Date.parse(events[0]!.time);
  assert.match(events[0]?.type === 'guest.killed' ? events[0].data.reason : '', /autokill/);
  assert.ok(
    killedAt - terminatedAt < 3000 + 6000,
    `killed ${killedAt - terminatedAt} ms after the terminate`,
  );
  // The source's MIGRATION_OUT job (Begin done, no Confirm coming) is settled by its agent.
  const deadline = Date.now() + 30_000;
  while ((await new JobStore(redis).get(vm, hostA)) && Date.now() < deadline)
    await new Promise((r) => setTimeout(r, 500));
  await assertSettled(cfg, redis, vm, hosts, { runsOn: hostA });
  await ferry('guest', 'kill', vm);
});

import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { Redis } from 'ioredis';
import type { Config } from '../infra/config.ts';
import { createRedis } from '../infra/redis/client.ts';
import { JobError, JobStore, type JobRecord } from '../infra/redis/jobs.ts';
import { realStack, uniqueName } from '../lab/stack.ts';

let cfg: Config;
let redis: Redis;
let jobs: JobStore;
const prefix = uniqueName('test:jobs');

before(async () => {
  cfg = await realStack();
  redis = createRedis(cfg, 'test-jobs');
  jobs = new JobStore(redis, prefix);
});

after(async () => {
  const keys = await redis.keys(`${prefix}:*`);
  if (keys.length > 0) await redis.del(...keys);
  redis.disconnect();
});

const isJobError = (code: string, check?: (err: JobError) => void) => (err: unknown) => {
  assert.ok(err instanceof JobError, `a JobError, got ${String(err)}`);
  assert.equal(err.code, code, err.message);
  check?.(err);
  return true;
};

function source(vm: string, owner = 'mig-1') {
  return {
    vm,
    host: 'host-a',
    job: 'MIGRATION_OUT' as const,
    owner,
    phase: 'begin3' as const,
    peer: 'host-b',
  };
}

test('jobs - start records the job, active, in its first phase', async () => {
  const record = await jobs.start(source('vm-start'));
  assert.equal(record.job, 'MIGRATION_OUT');
  assert.equal(record.phase, 'begin3');
  assert.equal(record.owner, 'mig-1');
  assert.equal(record.active, true);
  assert.equal(record.peer, 'host-b');
  assert.equal(record.sourceMemo, null);
  assert.deepEqual(await jobs.get('vm-start', 'host-a'), record);
  assert.equal(await jobs.get('vm-start', 'host-b'), undefined, 'a job is per host');
});

test('jobs - start refuses a second job, naming the job, phase and owner in the way', async () => {
  const first = await jobs.start(source('vm-busy'));
  await jobs.startPhase({ ...source('vm-busy'), phase: 'perform3' });
  await assert.rejects(
    jobs.start({ ...source('vm-busy', 'mig-2'), job: 'MIGRATION_IN', phase: 'prepare' }),
    isJobError('JOB_BUSY', (err) => {
      assert.match(err.message, /MIGRATION_OUT/);
      assert.match(err.message, /perform3/);
      assert.match(err.message, /mig-1/);
      assert.equal(err.vm, 'vm-busy');
      assert.equal(err.host, 'host-a');
      assert.equal(err.record?.owner, 'mig-1');
    }),
  );
  const kept = await jobs.get('vm-busy', 'host-a');
  assert.equal(kept?.owner, 'mig-1', 'the refused start changed nothing');
  assert.equal(kept?.startedAt, first.startedAt);
});

test('jobs - a retried start by the same migration returns its job; in another phase it is busy', async () => {
  const first = await jobs.start(source('vm-retry'));
  assert.deepEqual(await jobs.start(source('vm-retry')), first);
  await jobs.startPhase({ ...source('vm-retry'), phase: 'perform3' });
  await assert.rejects(jobs.start(source('vm-retry')), isJobError('JOB_BUSY'));
});

test('jobs - phases never go backwards, and the same phase again is a harmless retry', async () => {
  const ref = source('vm-phases');
  await jobs.start(ref);
  await jobs.continue(ref);
  const perform = await jobs.startPhase({ ...ref, phase: 'perform3' });
  assert.equal(perform.phase, 'perform3');
  assert.equal(perform.active, true);
  await jobs.continue(ref);
  const again = await jobs.startPhase({ ...ref, phase: 'perform3' });
  assert.equal(again.phase, 'perform3');
  await jobs.setPhase({ ...ref, phase: 'perform3_done' });
  await assert.rejects(
    jobs.startPhase({ ...ref, phase: 'perform3' }),
    isJobError('JOB_PHASE_BACKWARDS', (err) => {
      assert.match(err.message, /perform3_done to perform3/);
      assert.equal(err.record?.phase, 'perform3_done');
    }),
  );
  await assert.rejects(jobs.setPhase({ ...ref, phase: 'begin3' }), isJobError('JOB_PHASE_BACKWARDS'));
  await jobs.startPhase({ ...ref, phase: 'confirm3' });
  await assert.rejects(
    jobs.setPhase({ ...ref, phase: 'confirm3_cancelled' }),
    isJobError('JOB_PHASE_BACKWARDS'),
    'once confirmed, no cancelling',
  );
  assert.equal((await jobs.get(ref.vm, ref.host))?.phase, 'confirm3');
});

test('jobs - Confirm cannot skip Perform', async () => {
  const ref = source('vm-skip');
  await jobs.start(ref);
  await assert.rejects(jobs.startPhase({ ...ref, phase: 'confirm3' }), isJobError('JOB_PHASE_BACKWARDS'));
  assert.equal((await jobs.startPhase({ ...ref, phase: 'confirm3_cancelled' })).phase, 'confirm3_cancelled');
});

test('jobs - startPhase sets active, setPhase keeps it, continue clears it', async () => {
  const ref = source('vm-active');
  await jobs.start(ref);
  await jobs.continue(ref);
  assert.equal((await jobs.get(ref.vm, ref.host))?.active, false);
  assert.equal((await jobs.setPhase({ ...ref, phase: 'perform3' })).active, false);
  assert.equal((await jobs.startPhase({ ...ref, phase: 'perform3_done' })).active, true);
  await jobs.continue(ref);
  await jobs.continue(ref);
  assert.equal((await jobs.get(ref.vm, ref.host))?.active, false, 'continue twice is fine');
});

test('jobs - only the owner of a job of that type moves it', async () => {
  const ref = source('vm-owner');
  await jobs.start(ref);
  await assert.rejects(
    jobs.startPhase({ ...ref, owner: 'mig-other', phase: 'perform3' }),
    isJobError('JOB_NOT_OWNER', (err) => assert.match(err.message, /mig-other.*mig-1/)),
  );
  await assert.rejects(
    jobs.startPhase({ ...ref, job: 'MIGRATION_IN', phase: 'finish3' }),
    isJobError('JOB_NOT_ACTIVE', (err) => assert.match(err.message, /MIGRATION_OUT/)),
  );
  await assert.rejects(
    jobs.startPhase({ ...source('vm-no-job'), phase: 'perform3' }),
    isJobError('JOB_NOT_ACTIVE', (err) => assert.equal(err.record, undefined)),
  );
  await assert.rejects(jobs.continue({ ...ref, owner: 'mig-other' }), isJobError('JOB_NOT_OWNER'));
  await assert.rejects(jobs.continue(source('vm-no-job')), isJobError('JOB_NOT_ACTIVE'));
  assert.equal((await jobs.get(ref.vm, ref.host))?.phase, 'begin3');
});

test('jobs - finish is owner-checked and idempotent', async () => {
  const ref = source('vm-finish');
  await jobs.start(ref);
  await assert.rejects(jobs.finish({ ...ref, owner: 'mig-other' }), isJobError('JOB_NOT_OWNER'));
  assert.ok(await jobs.get(ref.vm, ref.host), 'the refused finish left the job');
  assert.equal(await jobs.finish(ref), true);
  assert.equal(await jobs.get(ref.vm, ref.host), undefined);
  assert.equal(await jobs.finish(ref), false, 'a retried finish is not an error');
  assert.equal(await jobs.finish({ ...ref, owner: 'mig-other' }), false);
  const next = await jobs.start(source(ref.vm, 'mig-2'));
  assert.equal(next.owner, 'mig-2', 'the VM is free for the next migration');
});

test('jobs - the source memo is kept by the owner from Begin to Confirm, under the hash field lockstate', async () => {
  const ref = source('vm-lockstate');
  await jobs.start(ref);
  const sourceMemo = JSON.stringify({ wasRunning: true, lockstate: [{ disk: 'd1', generation: 3 }] });
  await jobs.setSourceMemo({ ...ref, sourceMemo });
  assert.equal((await jobs.get(ref.vm, ref.host))?.sourceMemo, sourceMemo);
  // The stored field keeps its old name, so records written before the rename read the same.
  assert.equal(await redis.hget(`${prefix}:job:{${ref.host}}:${ref.vm}`, 'lockstate'), sourceMemo);
  await assert.rejects(
    jobs.setSourceMemo({ ...ref, owner: 'mig-other', sourceMemo: '[]' }),
    isJobError('JOB_NOT_OWNER'),
  );
  await assert.rejects(
    jobs.setSourceMemo({ ...source('vm-no-job'), sourceMemo }),
    isJobError('JOB_NOT_ACTIVE'),
  );
  assert.equal((await jobs.get(ref.vm, ref.host))?.sourceMemo, sourceMemo);
});

test('jobs - assertFree refuses changes to a VM in a migration job, except by its owner', async () => {
  const ref = source('vm-free');
  await jobs.assertFree(ref.vm, ref.host);
  await jobs.start(ref);
  await assert.rejects(
    jobs.assertFree(ref.vm, ref.host),
    isJobError('JOB_BUSY', (err) => assert.match(err.message, /MIGRATION_OUT job in phase begin3.*mig-1/)),
  );
  await assert.rejects(jobs.assertFree(ref.vm, ref.host, 'mig-other'), isJobError('JOB_BUSY'));
  await jobs.assertFree(ref.vm, ref.host, 'mig-1');
  await jobs.assertFree(ref.vm, 'host-b');
  await jobs.finish(ref);
  await jobs.assertFree(ref.vm, ref.host);
});

test('jobs - listForHost lists the host jobs and forgets finished ones', async () => {
  const host = uniqueName('host');
  const out = { ...source('vm-list-1'), host };
  const incoming = {
    vm: 'vm-list-2',
    host,
    job: 'MIGRATION_IN' as const,
    owner: 'mig-9',
    phase: 'prepare' as const,
    peer: 'host-c',
  };
  await jobs.start(out);
  await jobs.start(incoming);
  await jobs.start({ ...source('vm-list-3'), host: uniqueName('elsewhere') });
  const listed = await jobs.listForHost(host);
  assert.deepEqual(
    listed.map((r: JobRecord) => [r.vm, r.job, r.phase]),
    [
      ['vm-list-1', 'MIGRATION_OUT', 'begin3'],
      ['vm-list-2', 'MIGRATION_IN', 'prepare'],
    ],
  );
  await jobs.finish(out);
  assert.deepEqual(
    (await jobs.listForHost(host)).map((r) => r.vm),
    ['vm-list-2'],
  );
  assert.deepEqual(
    await redis.smembers(`${prefix}:jobs:{${host}}`),
    ['vm-list-2'],
    'the index forgets it too',
  );
});

test('jobs - of 20 clients starting a job on the same VM at once, exactly one wins', async () => {
  const clients = Array.from({ length: 20 }, (_, i) => createRedis(cfg, `test-jobs-racer-${i}`));
  try {
    const results = await Promise.allSettled(
      clients.map((client, i) => new JobStore(client, prefix).start(source('vm-race', `mig-${i}`))),
    );
    const won = results.filter((r) => r.status === 'fulfilled');
    const lost = results.filter((r) => r.status === 'rejected');
    assert.equal(won.length, 1, 'one winner');
    assert.equal(lost.length, 19);
    for (const r of lost) assert.ok(isJobError('JOB_BUSY')(r.reason));
    const winner = (won[0] as PromiseFulfilledResult<JobRecord>).value;
    assert.equal((await jobs.get('vm-race', 'host-a'))?.owner, winner.owner);
    for (const r of lost) assert.equal((r.reason as JobError).record?.owner, winner.owner);
  } finally {
    for (const client of clients) client.disconnect();
  }
});

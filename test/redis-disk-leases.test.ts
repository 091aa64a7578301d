import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { Redis } from 'ioredis';
import type { Config } from '../infra/config.ts';
import { createRedis } from '../infra/redis/client.ts';
import {
  DiskLeaseError,
  DiskLeases,
  raiseGenerationFloor,
  type DiskLease,
} from '../infra/redis/disk-leases.ts';
import { realStack, uniqueName } from '../lab/stack.ts';

let cfg: Config;
let redis: Redis;
let leases: DiskLeases;
const prefix = uniqueName('test:disks');

before(async () => {
  cfg = await realStack();
  redis = createRedis(cfg, 'test-disk-leases');
  leases = new DiskLeases(redis, prefix);
});

after(async () => {
  const keys = await redis.keys(`${prefix}:*`);
  if (keys.length > 0) await redis.del(...keys);
  redis.disconnect();
});

const A = { host: 'host-a', vm: 'vm-1' };
const B = { host: 'host-b', vm: 'vm-1' };
const disk = (name: string) => uniqueName(name);

const isLeaseError = (code: string, check?: (err: DiskLeaseError) => void) => (err: unknown) => {
  assert.ok(err instanceof DiskLeaseError, `a DiskLeaseError, got ${String(err)}`);
  assert.equal(err.code, code, err.message);
  check?.(err);
  return true;
};

const generation = async (d: string) => Number(await redis.hget(`${prefix}:{disks}:disk:${d}`, 'generation'));

test('disk leases - a held disk cannot be acquired by another holder', async () => {
  const d = disk('held');
  const [lease] = await leases.acquire(A, [d]);
  assert.deepEqual(lease, { disk: d, ...A, token: 1 });
  await assert.rejects(
    leases.acquire(B, [d]),
    isLeaseError('LEASE_HELD', (err) => {
      assert.deepEqual(err.holder, A);
      assert.equal(err.disk, d);
      assert.match(err.message, /vm-1 on host-a/);
    }),
  );
  await assert.rejects(leases.acquire({ ...A, vm: 'vm-2' }, [d]), isLeaseError('LEASE_HELD'), 'per VM too');
  assert.deepEqual(await leases.holderOf(d), lease);
});

test('disk leases - of 20 racing acquirers exactly one holds the disk', async () => {
  const d = disk('race');
  const clients = Array.from({ length: 20 }, (_, i) => createRedis(cfg, `test-disk-racer-${i}`));
  try {
    const results = await Promise.allSettled(
      clients.map((client, i) =>
        new DiskLeases(client, prefix).acquire({ host: `host-${i}`, vm: 'vm' }, [d]),
      ),
    );
    const won = results.filter((r) => r.status === 'fulfilled');
    assert.equal(won.length, 1);
    for (const r of results) if (r.status === 'rejected') assert.ok(isLeaseError('LEASE_HELD')(r.reason));
    const [winner] = (won[0] as PromiseFulfilledResult<DiskLease[]>).value;
    assert.equal(winner?.token, 1, 'the generation moved once');
    assert.deepEqual(await leases.holderOf(d), winner);
    assert.equal(await generation(d), 1);
  } finally {
    for (const client of clients) client.disconnect();
  }
});

test('disk leases - the fencing token only grows, across holders', async () => {
  const d = disk('fence');
  const tokens: number[] = [];
  for (const holder of [A, B, A, { host: 'host-c', vm: 'vm-9' }]) {
    const [lease] = await leases.acquire(holder, [d]);
    tokens.push(lease!.token);
    await leases.release(holder, [d]);
  }
  assert.deepEqual(tokens, [1, 2, 3, 4]);
  assert.equal(await leases.holderOf(d), undefined, 'released');
  assert.equal(await generation(d), 4, 'a release does not move the generation');
});

test('disk leases - release returns the lockstate; acquire with it takes the disks back', async () => {
  const disks = [disk('back-1'), disk('back-2')];
  const taken = await leases.acquire(A, disks);
  const lockstate = await leases.release(A, disks);
  assert.deepEqual(
    lockstate,
    taken.map((l) => ({ disk: l.disk, generation: l.token })),
  );
  assert.deepEqual(await leases.heldBy(A.host).then((l) => l.filter((x) => disks.includes(x.disk))), []);
  const back = await leases.acquire(A, disks, lockstate);
  assert.deepEqual(
    back.map((l) => l.token),
    taken.map((l) => l.token + 1),
  );
});

test('disk leases - the destination takes the disks with the source lockstate', async () => {
  const d = disk('handover');
  await leases.acquire(A, [d]);
  const lockstate = await leases.release(A, [d]);
  const [lease] = await leases.acquire(B, [d], lockstate);
  assert.deepEqual(lease, { disk: d, ...B, token: 2 });
});

test('disk leases - a stale owner cannot take a disk back after someone else had it', async () => {
  const d = disk('stale');
  await leases.acquire(A, [d]);
  const lockstate = await leases.release(A, [d]);
  await leases.acquire(B, [d]);
  await leases.release(B, [d]);
  assert.equal(await leases.holderOf(d), undefined, 'the disk is free again');
  await assert.rejects(
    leases.acquire(A, [d], lockstate),
    isLeaseError('LEASE_STALE', (err) => {
      assert.match(err.message, /acquired and released by someone else/);
      assert.match(err.message, /generation 2, lockstate says 1/);
    }),
  );
  assert.equal(await leases.holderOf(d), undefined, 'the failed acquire took nothing');
  assert.equal(await generation(d), 2);
  // Nor does A's retried release give it a lockstate naming the disk: B had it in between.
  assert.deepEqual(await leases.release(A, [d]), []);
  await assert.rejects(
    leases.acquire(A, [d], []),
    isLeaseError('LEASE_STALE', (e) => assert.match(e.message, /no lockstate/)),
  );
});

test('disk leases - a multi-disk acquire is all or nothing and a failed one moves no generation', async () => {
  const [free1, taken, free2] = [disk('all-1'), disk('all-2'), disk('all-3')];
  await leases.acquire(B, [taken]);
  await leases.acquire(A, [free1]);
  await leases.release(A, [free1]);
  await assert.rejects(
    leases.acquire(A, [free1, taken, free2]),
    isLeaseError('LEASE_HELD', (e) => assert.equal(e.disk, taken)),
  );
  assert.equal(await leases.holderOf(free1), undefined);
  assert.equal(await leases.holderOf(free2), undefined);
  assert.equal(await generation(free1), 1, 'no generation moved');
  assert.equal(await redis.exists(`${prefix}:{disks}:disk:${free2}`), 0, 'the unknown disk is still unknown');
  assert.deepEqual((await leases.holderOf(taken))?.host, B.host);
  assert.deepEqual(
    (await leases.heldBy(A.host)).filter((l) => [free1, taken, free2].includes(l.disk)),
    [],
  );
});

test('disk leases - a multi-disk acquire with a lockstate fails whole if one disk is stale', async () => {
  const [d1, d2] = [disk('ls-1'), disk('ls-2')];
  await leases.acquire(A, [d1, d2]);
  const lockstate = await leases.release(A, [d1, d2]);
  await leases.acquire(B, [d2]);
  await leases.release(B, [d2]);
  await assert.rejects(
    leases.acquire(A, [d1, d2], lockstate),
    isLeaseError('LEASE_STALE', (e) => assert.equal(e.disk, d2)),
  );
  assert.equal(await leases.holderOf(d1), undefined);
  assert.deepEqual([await generation(d1), await generation(d2)], [1, 2]);
});

test('disk leases - acquire and release are idempotent for the same holder', async () => {
  const [d1, d2] = [disk('idem-1'), disk('idem-2')];
  const first = await leases.acquire(A, [d1]);
  const again = await leases.acquire(A, [d1, d2]);
  assert.deepEqual(again, [first[0], { disk: d2, ...A, token: 1 }], 'd1 keeps its token');
  assert.deepEqual(await leases.acquire(A, [d1, d2]), again);
  assert.equal(await generation(d1), 1);
  const lockstate = await leases.release(A, [d1, d2]);
  assert.deepEqual(
    await leases.release(A, [d1, d2]),
    lockstate,
    'a retried release returns the same lockstate',
  );
  const back = await leases.acquire(A, [d1, d2], lockstate);
  assert.deepEqual(await leases.acquire(A, [d1, d2], lockstate), back, 'a retried acquire with lockstate');
  assert.deepEqual(await leases.release(A, [disk('never-leased')]), [], 'releasing what nobody held');
});

test('disk leases - releasing another holder disk fails and releases none', async () => {
  const [mine, theirs] = [disk('rel-1'), disk('rel-2')];
  await leases.acquire(A, [mine]);
  await leases.acquire(B, [theirs]);
  await assert.rejects(
    leases.release(A, [mine, theirs]),
    isLeaseError('LEASE_NOT_HOLDER', (err) => assert.deepEqual(err.holder, B)),
  );
  assert.equal((await leases.holderOf(mine))?.host, A.host, 'still held');
  assert.equal((await leases.holderOf(theirs))?.host, B.host);
});

test('disk leases - heldBy lists what a host holds', async () => {
  const host = uniqueName('host');
  const [d1, d2, d3] = [disk('idx-1'), disk('idx-2'), disk('idx-3')].sort() as [string, string, string];
  await leases.acquire({ host, vm: 'vm-1' }, [d1, d2]);
  await leases.acquire({ host, vm: 'vm-2' }, [d3]);
  assert.deepEqual(
    (await leases.heldBy(host)).map((l) => [l.disk, l.vm]),
    [
      [d1, 'vm-1'],
      [d2, 'vm-1'],
      [d3, 'vm-2'],
    ],
  );
  await leases.release({ host, vm: 'vm-1' }, [d1]);
  assert.deepEqual(
    (await leases.heldBy(host)).map((l) => l.disk),
    [d2, d3],
  );
  assert.deepEqual(
    (await redis.smembers(`${prefix}:{disks}:held-by:${host}`)).sort(),
    [d2, d3],
    'the index forgets it',
  );
});

test('disk leases - after a loss of Redis data the generation floor keeps tokens growing', async () => {
  const [before, after] = [uniqueName('disk'), uniqueName('disk')];
  const [old] = await leases.acquire(A, [before]);
  assert.equal(old?.token, 1, 'no loss yet: tokens count from 1');
  await leases.release(A, [before]);
  // The loss: the disk's hash is gone with everything else; the first host to notice raises the floor.
  await redis.del(`${prefix}:{disks}:disk:${before}`);
  const floor = await raiseGenerationFloor(redis, prefix);
  assert.ok(floor > Date.parse('2026-01-01'), `the floor is Redis's clock in ms (${floor})`);
  assert.equal(await raiseGenerationFloor(redis, prefix), floor, 'set once: a second host finds it');
  const [again] = await leases.acquire(B, [before]);
  const [fresh] = await leases.acquire(A, [after]);
  assert.equal(again?.token, floor + 1, 'a disk leased before the loss gets a token above the old ones');
  assert.equal(fresh?.token, floor + 1, 'so does a disk never leased');
  await leases.release(B, [before]);
  const [next] = await leases.acquire(A, [before]);
  assert.equal(next?.token, floor + 2, 'then it counts on from there');
});

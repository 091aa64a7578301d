import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Redis } from 'ioredis';
import { createRedis } from '../infra/redis/client.ts';
import { MigrationSlots, type SlotLimits, type SlotRequest } from '../infra/redis/migration-slots.ts';
import { realStack, uniqueName } from '../lab/stack.ts';

let redis: Redis;
const prefix = uniqueName('test:slots');
let slots: MigrationSlots;
const one: SlotLimits = { cluster: 2, perSource: 1, perDestination: 1 };

before(async () => {
  redis = createRedis(await realStack(), 'test-slots');
  slots = new MigrationSlots(redis, prefix, 300);
});

after(async () => {
  const keys = await redis.keys(`${prefix}:*`);
  if (keys.length > 0) await redis.del(...keys);
  redis.disconnect();
});

function request(
  source: string,
  candidates: [string, number][],
  over: Partial<SlotRequest> = {},
): SlotRequest {
  return {
    migrationId: uniqueName('m'),
    vm: uniqueName('vm'),
    source,
    memoryMiB: 64,
    candidates: candidates.map(([host, freeMiB]) => ({ host, freeMiB })),
    limits: one,
    ttlMs: 10_000,
    ...over,
  };
}

const names = () => {
  const id = uniqueName('h');
  return ['a', 'b', 'c', 'd', 'e', 'f'].map((x) => `${id}-${x}`) as [
    string,
    string,
    string,
    string,
    string,
    string,
  ];
};

test('slots - cluster, source and destination limits, all or nothing, first candidate that has room', async () => {
  const [a, b, c, d, e, f] = names();
  const first = request(a, [[b, 1000]]);
  assert.deepEqual(await slots.tryAcquire(first), { kind: 'acquired', destination: b });
  assert.deepEqual(
    await slots.tryAcquire(first),
    { kind: 'acquired', destination: b },
    'a retry gets the same',
  );
  assert.deepEqual(await slots.tryAcquire(request(a, [[c, 1000]])), { kind: 'wait', for: 'source' });
  assert.deepEqual(await slots.tryAcquire(request(d, [[b, 1000]])), { kind: 'wait', for: 'destination' });
  // Refused requests took nothing: C still has its inbound slot, D its outbound one.
  assert.deepEqual(
    await slots.tryAcquire(
      request(d, [
        [b, 1000],
        [c, 1000],
      ]),
    ),
    {
      kind: 'acquired',
      destination: c,
    },
  );
  assert.deepEqual(await slots.tryAcquire(request(e, [[f, 1000]])), { kind: 'wait', for: 'cluster' });
  const load = await slots.load([a, b, c, d]);
  assert.deepEqual(load.get(b), { inbound: 1, outbound: 0, promisedMiB: 64 });
  assert.deepEqual(load.get(a), { inbound: 0, outbound: 1, promisedMiB: 0 });
  assert.equal(await slots.release(first.migrationId), true);
  assert.deepEqual(await slots.tryAcquire(request(e, [[f, 1000]])), { kind: 'acquired', destination: f });
  for (const h of await slots.holders()) await slots.release(h.migrationId);
});

test('slots - memory promised to migrations in flight counts against the destination until it shows in the registration', async () => {
  const [a, b, c, d] = names();
  const limits = { cluster: 10, perSource: 10, perDestination: 10 };
  const first = request(a, [[b, 100]], { limits });
  assert.equal((await slots.tryAcquire(first)).kind, 'acquired');
  // 100 free, 64 promised: another 64 MiB guest must wait for the first to land (or roll back).
  assert.deepEqual(await slots.tryAcquire(request(c, [[b, 100]], { limits })), {
    kind: 'wait',
    for: 'memory',
  });
  assert.deepEqual(await slots.tryAcquire(request(c, [[d, 50]], { limits })), { kind: 'no-room' });
  assert.equal(await slots.release(first.migrationId), true);
  // The promise lingers (300 ms here) until the agent's heartbeat would count the guest.
  assert.deepEqual(await slots.tryAcquire(request(c, [[b, 100]], { limits })), {
    kind: 'wait',
    for: 'memory',
  });
  await sleep(400);
  const later = request(c, [[b, 100]], { limits });
  assert.deepEqual(await slots.tryAcquire(later), { kind: 'acquired', destination: b });
  await slots.release(later.migrationId);
});

test('slots - a holder that stops renewing loses its slots after the TTL; a released id never takes them back', async () => {
  const [a, b, c] = names();
  const lapsing = request(a, [[b, 1000]], { ttlMs: 300 });
  assert.equal((await slots.tryAcquire(lapsing)).kind, 'acquired');
  assert.deepEqual(await slots.tryAcquire(request(c, [[b, 1000]])), { kind: 'wait', for: 'destination' });
  await sleep(400);
  const next = request(c, [[b, 1000]], { limits: { ...one, cluster: 10 } });
  assert.deepEqual(await slots.tryAcquire(next), { kind: 'acquired', destination: b });
  // Its controller came back: the migration still runs, so the keepalive takes its slots back.
  const holder = {
    migrationId: lapsing.migrationId,
    vm: lapsing.vm,
    source: a,
    destination: b,
    memoryMiB: 64,
  };
  assert.equal(await slots.renew(holder, 10_000), 'retaken');
  assert.equal(await slots.renew(holder, 10_000), 'renewed');
  assert.equal(await slots.release(lapsing.migrationId), true);
  assert.equal(await slots.release(lapsing.migrationId), false, 'a second release is a no-op');
  assert.equal(await slots.renew(holder, 10_000), 'released');
  assert.deepEqual(await slots.tryAcquire(lapsing), { kind: 'released' });
  assert.equal(await slots.get(lapsing.migrationId), undefined);
  await slots.release(next.migrationId);
  // An acquire cancelled before it took anything leaves only the mark.
  const never = request(a, [[b, 1000]]);
  assert.equal(await slots.release(never.migrationId), false);
  assert.deepEqual(await slots.tryAcquire(never), { kind: 'released' });
});

test('slots - 40 racing acquirers over 4 sources and 4 destinations never exceed any limit', async () => {
  const hosts = names();
  const limits = { cluster: 5, perSource: 2, perDestination: 2 };
  const requests = Array.from({ length: 40 }, (_, i) =>
    request(
      hosts[i % 4]!,
      [0, 1, 2, 3].map((k) => [`${hosts[4]}-${(i + k) % 4}`, 10_000] as [string, number]),
      { limits },
    ),
  );
  const answers = await Promise.all(requests.map((r) => slots.tryAcquire(r)));
  const acquired = requests.flatMap((r, i) => {
    const a = answers[i]!;
    return a.kind === 'acquired' ? [{ source: r.source, destination: a.destination }] : [];
  });
  assert.equal(acquired.length, 5, 'the cluster limit is reached exactly');
  const count = (xs: string[]) => Math.max(...[...new Set(xs)].map((x) => xs.filter((y) => y === x).length));
  assert.ok(count(acquired.map((a) => a.source)) <= 2);
  assert.ok(count(acquired.map((a) => a.destination)) <= 2);
  assert.equal((await slots.holders()).length, 5);
  for (const h of await slots.holders()) await slots.release(h.migrationId);
});

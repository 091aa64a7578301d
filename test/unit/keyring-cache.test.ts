// A process's copy of the keyrings: read again only after refreshMs, or at once for a key id it
// does not know; never forgetting a key (a Redis that lost its data does not take the keys running
// hosts use); serving what it knows while Redis is down, and saying so when that is not enough.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Redis } from 'ioredis';
import { KEYRING_KEYS, KeyringCache, KeyringError, type RedisAccess } from '../../infra/redis/keyring.ts';

const entry = (fill: number, createdAt: number) =>
  JSON.stringify({ key: Buffer.alloc(32, fill).toString('base64'), createdAt });

/** A Redis holding one hash per ring, counting reads; `down` makes every read fail. */
function fakeRedis(rings: Record<string, Record<string, string>>) {
  const state = { reads: 0, down: false, rings };
  const redis = {
    hgetall: (key: string) => {
      state.reads++;
      if (state.down) return Promise.reject(new Error('connect ECONNREFUSED 127.0.0.1:16379'));
      return Promise.resolve({ ...(state.rings[key] ?? {}) });
    },
  } as unknown as Redis;
  const access: RedisAccess = (use) => use(redis);
  return { state, access };
}

test('keyring cache - a ring is read once per refresh interval, and the newest key is current', async () => {
  let now = 1_000;
  const { state, access } = fakeRedis({
    [KEYRING_KEYS.codec]: { aaaaaaaa: entry(1, 100), bbbbbbbb: entry(2, 200) },
  });
  const cache = new KeyringCache(access, { refreshMs: 5000, now: () => now });
  const first = await cache.snapshot('codec');
  assert.equal(first.current.id, 'bbbbbbbb');
  assert.deepEqual(
    first.keys.map((k) => k.id),
    ['aaaaaaaa', 'bbbbbbbb'],
  );
  now += 4999;
  await cache.snapshot('codec');
  assert.equal(state.reads, 1, 'within the interval: no read');
  now += 1;
  await cache.snapshot('codec');
  assert.equal(state.reads, 2, 'after it: read again');
});

test('keyring cache - a key id it does not know is looked up at once (a rotation a moment ago)', async () => {
  const { state, access } = fakeRedis({ [KEYRING_KEYS.cluster]: { aaaaaaaa: entry(1, 100) } });
  const cache = new KeyringCache(access, { refreshMs: 60_000, now: () => 0 });
  await cache.snapshot('cluster');
  state.rings[KEYRING_KEYS.cluster]!.cccccccc = entry(3, 300);
  const ring = await cache.snapshot('cluster', 'cccccccc');
  assert.equal(state.reads, 2);
  assert.equal(ring.current.id, 'cccccccc');
  assert.deepEqual(ring.keys.find((k) => k.id === 'cccccccc')?.key, Buffer.alloc(32, 3));
});

test('keyring cache - keys are never forgotten, though Redis loses them', async () => {
  let now = 0;
  const { state, access } = fakeRedis({ [KEYRING_KEYS.codec]: { aaaaaaaa: entry(1, 100) } });
  const cache = new KeyringCache(access, { refreshMs: 10, now: () => now });
  await cache.snapshot('codec');
  state.rings[KEYRING_KEYS.codec] = {}; // Redis lost its data
  now += 10;
  const ring = await cache.snapshot('codec');
  assert.equal(state.reads, 2);
  assert.equal(ring.current.id, 'aaaaaaaa');
});

test('keyring cache - with Redis down, known keys serve; an unknown one is a clear error', async () => {
  let now = 0;
  const { state, access } = fakeRedis({ [KEYRING_KEYS.codec]: { aaaaaaaa: entry(1, 100) } });
  const cache = new KeyringCache(access, { refreshMs: 10, now: () => now });
  await cache.snapshot('codec');
  state.down = true;
  now += 10;
  assert.equal((await cache.snapshot('codec')).current.id, 'aaaaaaaa');
  now += 1;
  await cache.snapshot('codec');
  assert.equal(state.reads, 2, 'a Redis that is down is asked again after the interval, not at every call');
  await assert.rejects(cache.snapshot('codec', 'dddddddd'), (err: unknown) => {
    assert.ok(err instanceof KeyringError);
    assert.match(err.message, /cannot read the codec keyring from Redis: connect ECONNREFUSED/);
    return true;
  });
});

test('keyring cache - an empty ring it may not fill, or a malformed key, is refused with what to do', async () => {
  const empty = fakeRedis({});
  await assert.rejects(new KeyringCache(empty.access).snapshot('cluster'), (err: unknown) => {
    assert.ok(err instanceof KeyringError);
    assert.match(err.message, /cluster keyring in Redis \(ferry:\{keyring\}:cluster\) is empty/);
    assert.match(err.hint ?? '', /ferry secret rotate --cluster/);
    return true;
  });
  for (const [id, value] of [
    ['aaaaaaaa', '{"key":"c2hvcnQ=","createdAt":1}'],
    ['aaaaaaaa', 'not json'],
    ['AAAA', entry(1, 1)],
  ] as const) {
    const bad = fakeRedis({ [KEYRING_KEYS.codec]: { [id]: value } });
    await assert.rejects(new KeyringCache(bad.access).snapshot('codec'), /has a malformed key/);
  }
});

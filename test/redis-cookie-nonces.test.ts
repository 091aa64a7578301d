import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Redis } from 'ioredis';
import type { Config } from '../infra/config.ts';
import { createRedis } from '../infra/redis/client.ts';
import { CookieNonces } from '../infra/redis/cookie-nonces.ts';
import { realStack, uniqueName } from '../lab/stack.ts';

let cfg: Config;
let redis: Redis;
let nonces: CookieNonces;
/** The epoch of this test's prefix, as cookies issued now carry it. */
let epoch: string;
const prefix = uniqueName('test:nonces');

before(async () => {
  cfg = await realStack();
  redis = createRedis(cfg, 'test-nonces');
  nonces = new CookieNonces(redis, prefix);
  epoch = await nonces.currentEpoch();
});

after(async () => {
  const keys = await redis.keys(`${prefix}:*`);
  if (keys.length > 0) await redis.del(...keys);
  redis.disconnect();
});

test('cookie nonces - fresh once, the same scope again is a retry, another scope is a replay', async () => {
  const nonce = uniqueName('nonce');
  assert.equal(await nonces.consume(nonce, 'mig-1:prepare@host-b', 60_000, epoch), 'fresh');
  assert.equal(await nonces.consume(nonce, 'mig-1:prepare@host-b', 60_000, epoch), 'same-scope');
  assert.equal(await nonces.consume(nonce, 'mig-1:prepare@host-c', 60_000, epoch), 'replayed');
  assert.equal(await nonces.consume(nonce, 'mig-2:prepare@host-b', 60_000, epoch), 'replayed');
  assert.equal(
    await nonces.consume(nonce, 'mig-1:prepare@host-b', 60_000, epoch),
    'same-scope',
    'a replay did not steal it',
  );
  assert.equal(await nonces.consume(uniqueName('nonce'), 'mig-1:prepare@host-c', 60_000, epoch), 'fresh');
});

test('cookie nonces - of 20 scopes racing with one nonce, exactly one finds it fresh', async () => {
  const nonce = uniqueName('nonce');
  const clients = Array.from({ length: 20 }, (_, i) => createRedis(cfg, `test-nonce-racer-${i}`));
  try {
    const uses = await Promise.all(
      clients.map((client, i) =>
        new CookieNonces(client, prefix).consume(nonce, `scope-${i}`, 60_000, epoch),
      ),
    );
    assert.equal(uses.filter((u) => u === 'fresh').length, 1);
    assert.equal(uses.filter((u) => u === 'replayed').length, 19);
  } finally {
    for (const client of clients) client.disconnect();
  }
});

test('cookie nonces - a nonce is remembered for its TTL, not longer', async () => {
  const nonce = uniqueName('nonce');
  assert.equal(await nonces.consume(nonce, 'scope-a', 200, epoch), 'fresh');
  const ttl = await redis.pttl(`${prefix}:{epoch}:nonce:${nonce}`);
  assert.ok(ttl > 0 && ttl <= 200, `ttl ${ttl}`);
  assert.equal(await nonces.consume(nonce, 'scope-a', 60_000, epoch), 'same-scope');
  assert.ok((await redis.pttl(`${prefix}:{epoch}:nonce:${nonce}`)) <= 200, 'a retry does not extend it');
  await sleep(300);
  assert.equal(await nonces.consume(nonce, 'scope-b', 60_000, epoch), 'fresh');
});

test('cookie nonces - once Redis lost its data (a new epoch), a cookie of the old one is stale and spends nothing', async () => {
  const nonce = uniqueName('nonce');
  assert.equal(await nonces.currentEpoch(), epoch, 'the epoch stays while Redis keeps its data');
  assert.equal(await nonces.consume(nonce, 'mig-1:prepare@host-b', 60_000, epoch), 'fresh');
  // The loss: every key of the prefix gone, the epoch and the spent nonce with them.
  await redis.del(...(await redis.keys(`${prefix}:*`)));
  const unseen = uniqueName('nonce');
  assert.equal(
    await nonces.consume(nonce, 'mig-1:prepare@host-c', 60_000, epoch),
    'stale',
    'the replay is refused',
  );
  assert.equal(await nonces.consume(unseen, 'mig-1:prepare@host-b', 60_000, epoch), 'stale');
  assert.equal(await redis.exists(`${prefix}:{epoch}:nonce:${unseen}`), 0, 'a stale cookie records nothing');
  const next = await nonces.currentEpoch();
  assert.notEqual(next, epoch, 'the first to ask sets a new epoch');
  assert.equal(await nonces.consume(nonce, 'mig-1:prepare@host-c', 60_000, epoch), 'stale');
  assert.equal(
    await nonces.consume(unseen, 'mig-2:prepare@host-b', 60_000, next),
    'fresh',
    "the new epoch's cookies work",
  );
  epoch = next;
});

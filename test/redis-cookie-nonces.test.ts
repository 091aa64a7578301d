import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Redis } from 'ioredis';
import type { Config } from '../infra/config.ts';
import { createRedis } from '../infra/redis/client.ts';
import { CookieNonces } from '../infra/redis/cookie-nonces.ts';
import { realStack, uniqueName } from './support/stack.ts';

let cfg: Config;
let redis: Redis;
let nonces: CookieNonces;
const prefix = uniqueName('test:nonces');

before(async () => {
  cfg = await realStack();
  redis = createRedis(cfg, 'test-nonces');
  nonces = new CookieNonces(redis, prefix);
});

after(async () => {
  const keys = await redis.keys(`${prefix}:*`);
  if (keys.length > 0) await redis.del(...keys);
  redis.disconnect();
});

test('cookie nonces - fresh once, the same scope again is a retry, another scope is a replay', async () => {
  const nonce = uniqueName('nonce');
  assert.equal(await nonces.consume(nonce, 'mig-1:prepare@host-b', 60_000), 'fresh');
  assert.equal(await nonces.consume(nonce, 'mig-1:prepare@host-b', 60_000), 'same-scope');
  assert.equal(await nonces.consume(nonce, 'mig-1:prepare@host-c', 60_000), 'replayed');
  assert.equal(await nonces.consume(nonce, 'mig-2:prepare@host-b', 60_000), 'replayed');
  assert.equal(
    await nonces.consume(nonce, 'mig-1:prepare@host-b', 60_000),
    'same-scope',
    'a replay did not steal it',
  );
  assert.equal(await nonces.consume(uniqueName('nonce'), 'mig-1:prepare@host-c', 60_000), 'fresh');
});

test('cookie nonces - of 20 scopes racing with one nonce, exactly one finds it fresh', async () => {
  const nonce = uniqueName('nonce');
  const clients = Array.from({ length: 20 }, (_, i) => createRedis(cfg, `test-nonce-racer-${i}`));
  try {
    const uses = await Promise.all(
      clients.map((client, i) => new CookieNonces(client, prefix).consume(nonce, `scope-${i}`, 60_000)),
    );
    assert.equal(uses.filter((u) => u === 'fresh').length, 1);
    assert.equal(uses.filter((u) => u === 'replayed').length, 19);
  } finally {
    for (const client of clients) client.disconnect();
  }
});

test('cookie nonces - a nonce is remembered for its TTL, not longer', async () => {
  const nonce = uniqueName('nonce');
  assert.equal(await nonces.consume(nonce, 'scope-a', 200), 'fresh');
  const ttl = await redis.pttl(`${prefix}:nonce:${nonce}`);
  assert.ok(ttl > 0 && ttl <= 200, `ttl ${ttl}`);
  assert.equal(await nonces.consume(nonce, 'scope-a', 60_000), 'same-scope');
  assert.ok((await redis.pttl(`${prefix}:nonce:${nonce}`)) <= 200, 'a retry does not extend it');
  await sleep(300);
  assert.equal(await nonces.consume(nonce, 'scope-b', 60_000), 'fresh');
});

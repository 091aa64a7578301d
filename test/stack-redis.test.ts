// exclusive: stops and restarts the shared Redis.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { once } from 'node:events';
import type { Redis } from 'ioredis';
import type { Config } from '../infra/config.ts';
import { createRedis } from '../infra/redis/client.ts';
import { loadScript } from '../infra/redis/scripts.ts';
import { startService, stopService } from '../infra/stack/stack.ts';
import { realStack, uniqueName } from '../lab/stack.ts';

let cfg: Config;
let redis: Redis;
const prefix = uniqueName('test:redis');

before(async () => {
  cfg = await realStack();
  redis = createRedis(cfg, 'test-redis');
});

after(async () => {
  const keys = await redis.keys(`${prefix}*`);
  if (keys.length > 0) await redis.del(...keys);
  redis.disconnect();
});

test('redis - a Lua script runs atomically: of 60 racing takers exactly one gets the lease', async () => {
  const clients = Array.from({ length: 6 }, (_, i) => createRedis(cfg, `test-racer-${i}`));
  const key = `${prefix}:lease`;
  try {
    const attempts = clients.flatMap((client, c) =>
      Array.from({ length: 10 }, (_, i) =>
        loadScript(client, 'lease-take')([key, `${key}:fence`], [`owner-${c}-${i}`, 60_000]),
      ),
    );
    const tokens = (await Promise.all(attempts)).filter((t) => t !== null);
    assert.deepEqual(tokens, [1], 'one winner, with fencing token 1');
    assert.equal(await redis.get(`${key}:fence`), '1', 'the fencing counter moved once');
  } finally {
    for (const client of clients) client.disconnect();
  }
});

test('redis - a key with a TTL expires and its expiry is notified', async () => {
  const key = `${prefix}:ttl`;
  const subscriber = createRedis(cfg, 'test-expiry-listener');
  try {
    await subscriber.subscribe('__keyevent@0__:expired');
    const expired = new Promise<string>((resolve) => {
      subscriber.on('message', (_channel: string, expiredKey: string) => {
        if (expiredKey === key) resolve(expiredKey);
      });
    });
    await redis.set(key, 'lease', 'PX', 300);
    assert.equal(await redis.exists(key), 1);
    assert.equal(await expired, key, 'the expired event names the key');
    assert.equal(await redis.exists(key), 0);
  } finally {
    subscriber.disconnect();
  }
});

test('redis - data survives a Redis restart (append-only file)', async () => {
  const key = `${prefix}:durable`;
  await redis.hset(key, { owner: 'host-a', token: '7' });
  const token = await loadScript(redis, 'lease-take')([`${key}:lease`, `${key}:fence`], ['host-a', 600_000]);
  await stopService(cfg, 'redis', () => undefined);
  await assert.rejects(redis.ping(), 'Redis is really down');
  await startService(cfg, 'redis', () => undefined);
  if (redis.status !== 'ready') await once(redis, 'ready');
  assert.deepEqual(await redis.hgetall(key), { owner: 'host-a', token: '7' });
  assert.equal(await redis.hget(`${key}:lease`, 'token'), String(token));
  assert.ok((await redis.pttl(`${key}:lease`)) > 0, 'the lease keeps its TTL');
});

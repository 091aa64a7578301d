import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Redis } from 'ioredis';
import { loadOrCreateIdentity } from '../hosts/agent/identity.ts';
import { HostRegistry, type HostRegistration } from '../hosts/agent/registration.ts';
import { createRedis } from '../infra/redis/client.ts';
import { realStack, uniqueName } from '../lab/stack.ts';

let redis: Redis;
const prefix = uniqueName('test:ferry');
const dir = mkdtempSync(join(tmpdir(), 'ferry-identity-'));

before(async () => {
  redis = createRedis(await realStack(), 'test-registration');
});

after(async () => {
  const keys = await redis.keys(`${prefix}:*`);
  if (keys.length > 0) await redis.del(...keys);
  redis.disconnect();
  rmSync(dir, { recursive: true, force: true });
});

test('agent identity - a host keeps its UUID across restarts; a bad name is refused', () => {
  const first = loadOrCreateIdentity(join(dir, 'a'), 'host-a');
  assert.deepEqual(loadOrCreateIdentity(join(dir, 'a'), 'host-a'), first);
  assert.notEqual(loadOrCreateIdentity(join(dir, 'b'), 'host-b').uuid, first.uuid);
  assert.throws(() => loadOrCreateIdentity(join(dir, 'c'), 'Host_C'), /lower-case/);
});

test('agent registration - a registered host is up until its heartbeat lapses', async () => {
  const registry = new HostRegistry(redis, prefix);
  const reg = registration('host-a', { memoryMiB: 4096, usedMiB: 1024, guests: 2 });
  await registry.heartbeat(reg, { ttlMs: 400 });
  assert.deepEqual(await registry.read('host-a'), reg);
  assert.deepEqual(await registry.list(), [{ name: 'host-a', up: true, registration: reg }]);
  await sleep(700);
  assert.equal(await registry.read('host-a'), undefined);
  assert.deepEqual(await registry.list(), [{ name: 'host-a', up: false }]);
  await registry.deregister('host-a');
  assert.deepEqual(await registry.list(), []);
});

test('agent registration - the guests a host publishes are read back and lapse with its heartbeat', async () => {
  const registry = new HostRegistry(redis, prefix);
  const reg = registration('host-g', { memoryMiB: 2048, usedMiB: 64, guests: 1 });
  const guests = [{ vm: 'vm-1', kind: 'emulated', memoryMiB: 64, incoming: false, status: 'running' }];
  await registry.heartbeat(reg, { ttlMs: 400 });
  assert.equal(await registry.guests('host-g'), undefined, 'a beat without guests publishes none');
  await registry.heartbeat(reg, { guests, ttlMs: 400 });
  assert.deepEqual(await registry.guests('host-g'), guests);
  await sleep(700);
  assert.equal(await registry.guests('host-g'), undefined);
  // What is read back from Redis is checked: a value of the wrong shape is refused, not shown.
  await redis.set(`${prefix}:{hosts}:host:host-g:guests`, JSON.stringify([{ vm: 'vm-1' }]));
  await assert.rejects(registry.guests('host-g'), /kind|expected/);
  await registry.deregister('host-g');
  assert.equal(
    await redis.exists(`${prefix}:{hosts}:host:host-g:guests`),
    0,
    'deregister removes the guest list',
  );
});

test('agent registration - a host that stops with guests stays listed, down, with them as last seen; one without is forgotten', async () => {
  const registry = new HostRegistry(redis, prefix);
  // Other tests' hosts share the prefix: only this test's two are looked at.
  const listed = async () =>
    (await registry.list()).filter((h) => h.name === 'host-busy' || h.name === 'host-idle');
  const guests = [{ vm: 'vm-2', kind: 'emulated', memoryMiB: 32, incoming: false, status: 'running' }];
  const busy = registration('host-busy', { memoryMiB: 1024, usedMiB: 32, guests: 1 });
  await registry.heartbeat(busy, { guests });
  assert.deepEqual(await registry.lastSeen('host-busy'), {
    seenAt: busy.heartbeatAt,
    guests,
    stopped: false,
  });
  await registry.deregister('host-busy');
  assert.equal(await registry.read('host-busy'), undefined);
  assert.equal(await registry.guests('host-busy'), undefined, 'no live guest list');
  assert.deepEqual(await listed(), [{ name: 'host-busy', up: false }]);
  const last = await registry.lastSeen('host-busy');
  assert.deepEqual([last?.guests, last?.stopped], [guests, true]);
  assert.ok(Date.parse(last!.seenAt) >= Date.parse(busy.heartbeatAt), 'seen last when it stopped');

  const idle = registration('host-idle', { memoryMiB: 1024, usedMiB: 0, guests: 0 });
  await registry.heartbeat(idle, { guests: [] });
  await registry.deregister('host-idle');
  assert.deepEqual(await listed(), [{ name: 'host-busy', up: false }], 'host-idle is forgotten');
  assert.equal(await registry.lastSeen('host-idle'), undefined);

  // The busy host's agent comes back and stops with no guests: forgotten too.
  await registry.heartbeat(busy, { guests: [] });
  await registry.deregister('host-busy');
  assert.deepEqual(await listed(), []);
});

/** A registration of `name` (its identity in this test's dir) with the given load. */
function registration(
  name: string,
  load: { memoryMiB: number; usedMiB: number; guests: number },
): HostRegistration {
  return {
    name,
    uuid: loadOrCreateIdentity(join(dir, name), name).uuid,
    address: '127.0.0.2',
    dataPort: 40123,
    ...load,
    pid: process.pid,
    heartbeatAt: new Date().toISOString(),
  };
}

test('agent registration - a host name held by a live agent of another identity is refused until its claim lapses', async () => {
  const registry = new HostRegistry(redis, prefix);
  const [first, second] = ['00000000-0000-4000-8000-00000000000a', '00000000-0000-4000-8000-00000000000b'];
  await registry.claim('host-claimed', first, 400);
  await registry.claim('host-claimed', first, 400); // the holder renews its own claim
  await assert.rejects(
    registry.claim('host-claimed', second, 400),
    (err: Error) => err.name === 'HostNameTakenError' && /held by a live agent .*0000000a/.test(err.message),
  );
  await sleep(700);
  await registry.claim('host-claimed', second, 400); // the first stopped beating: the name is free
  await registry.unclaim('host-claimed', first); // not the holder: nothing changes
  await assert.rejects(registry.claim('host-claimed', first, 400), /held by a live agent/);
  await registry.unclaim('host-claimed', second);
  await registry.claim('host-claimed', first, 400);
});

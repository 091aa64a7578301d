import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Redis } from 'ioredis';
import type { Config } from '../infra/config.ts';
import { AutokillLeases } from '../infra/redis/autokill.ts';
import { createRedis } from '../infra/redis/client.ts';
import { realStack, uniqueName } from '../lab/stack.ts';

let cfg: Config;
let redis: Redis;
let autokill: AutokillLeases;
const prefix = uniqueName('test:autokill');

before(async () => {
  cfg = await realStack();
  redis = createRedis(cfg, 'test-autokill');
  autokill = new AutokillLeases(redis, prefix);
});

after(async () => {
  const keys = await redis.keys(`${prefix}:*`);
  if (keys.length > 0) await redis.del(...keys);
  redis.disconnect();
});

test('autokill - register refuses another owner and renews the same owner', async () => {
  const vm = uniqueName('vm');
  assert.equal(await autokill.register({ vm, host: 'host-b', owner: 'mig-1', ttlMs: 5_000 }), true);
  assert.equal(await autokill.register({ vm, host: 'host-c', owner: 'mig-2', ttlMs: 60_000 }), false);
  const held = await autokill.holder(vm);
  assert.equal(held?.owner, 'mig-1');
  assert.equal(held?.host, 'host-b', 'the refused register changed nothing');
  assert.ok(held.ttlMs > 0 && held.ttlMs <= 5_000, `ttl ${held.ttlMs}`);
  assert.equal(await autokill.register({ vm, host: 'host-b', owner: 'mig-1', ttlMs: 60_000 }), true);
  assert.ok((await autokill.holder(vm))!.ttlMs > 5_000, 'registering again renewed the lease');
});

test('autokill - only the owner renews, and a lapsed lease stays gone', async () => {
  const vm = uniqueName('vm');
  assert.equal(await autokill.renew({ vm, owner: 'mig-1', ttlMs: 5_000 }), false, 'nothing to renew');
  assert.equal(await redis.exists(`${prefix}:autokill:{${vm}}`), 0, 'renew created nothing');
  await autokill.register({ vm, host: 'host-b', owner: 'mig-1', ttlMs: 2_000 });
  assert.equal(await autokill.renew({ vm, owner: 'mig-2', ttlMs: 60_000 }), false);
  assert.ok((await autokill.holder(vm))!.ttlMs <= 2_000, 'another owner did not extend it');
  assert.equal(await autokill.renew({ vm, owner: 'mig-1', ttlMs: 60_000 }), true);
  assert.ok((await autokill.holder(vm))!.ttlMs > 2_000);
});

test('autokill - drop lets only the owner end its lease at once, and the VM can be registered anew', async () => {
  const vm = uniqueName('vm');
  assert.equal(await autokill.drop({ vm, owner: 'mig-1' }), false, 'no lease, nothing to drop');
  await autokill.register({ vm, host: 'host-b', owner: 'mig-1', ttlMs: 60_000 });
  assert.equal(await autokill.drop({ vm, owner: 'mig-2' }), false);
  assert.equal((await autokill.holder(vm))?.owner, 'mig-1', 'the refused drop left the lease');
  assert.equal(await autokill.drop({ vm, owner: 'mig-1' }), true);
  assert.equal(await autokill.holder(vm), undefined);
  assert.equal(
    await autokill.claim({ vm, owner: 'mig-1' }),
    false,
    'a dropped lease cannot be claimed by Finish',
  );
  assert.equal(await autokill.register({ vm, host: 'host-c', owner: 'mig-2', ttlMs: 60_000 }), true);
});

test('autokill - claim ends the owner lease, refuses others, and a retried claim still succeeds', async () => {
  const vm = uniqueName('vm');
  assert.equal(await autokill.claim({ vm, owner: 'mig-1' }), false, 'no lease, nothing to claim');
  await autokill.register({ vm, host: 'host-b', owner: 'mig-1', ttlMs: 60_000 });
  assert.equal(await autokill.claim({ vm, owner: 'mig-2' }), false);
  assert.equal((await autokill.holder(vm))?.owner, 'mig-1', 'the refused claim left the lease');
  assert.equal(await autokill.claim({ vm, owner: 'mig-1' }), true);
  assert.equal(await autokill.holder(vm), undefined);
  assert.equal(await autokill.claim({ vm, owner: 'mig-1' }), true, 'a retried Finish');
  assert.equal(await autokill.claim({ vm, owner: 'mig-2' }), false, 'but only for its owner');
  assert.equal(await autokill.register({ vm, host: 'host-c', owner: 'mig-2', ttlMs: 60_000 }), true);
});

test('autokill - a lease not renewed expires, watchExpiry reports the vm, and claim then fails', async () => {
  const vm = uniqueName('vm');
  const other = new AutokillLeases(redis, uniqueName('test:autokill-other'));
  const seen: string[] = [];
  const stop = await autokill.watchExpiry((expired) => seen.push(expired));
  let otherSeen = 0;
  const stopOther = await other.watchExpiry(() => otherSeen++);
  try {
    const ttlMs = 300;
    await autokill.register({ vm, host: 'host-b', owner: 'mig-1', ttlMs });
    const registeredAt = Date.now();
    // A claimed lease does not expire, so it must not be reported either.
    const claimed = uniqueName('vm');
    await autokill.register({ vm: claimed, host: 'host-b', owner: 'mig-1', ttlMs });
    assert.equal(await autokill.claim({ vm: claimed, owner: 'mig-1' }), true);
    await waitExpired(vm, seen, registeredAt + ttlMs);
    assert.deepEqual(seen, [vm]);
    assert.equal(await autokill.holder(vm), undefined);
    assert.equal(await autokill.claim({ vm, owner: 'mig-1' }), false, 'Finish after the lapse must fail');
    assert.equal(await autokill.renew({ vm, owner: 'mig-1', ttlMs: 60_000 }), false);
    assert.equal(otherSeen, 0, 'another prefix hears nothing of these leases');
  } finally {
    await stop();
    await stopOther();
  }
});

test('autokill - after stop, the watcher hears no more', async () => {
  const seen: string[] = [];
  const stop = await autokill.watchExpiry((vm) => seen.push(vm));
  await stop();
  const vm = uniqueName('vm');
  const probe = await autokill.watchExpiry((expired) => seen.push(`probe:${expired}`));
  try {
    await autokill.register({ vm, host: 'host-b', owner: 'mig-1', ttlMs: 100 });
    await waitExpired(vm, seen, Date.now() + 100, `probe:${vm}`);
    assert.deepEqual(seen, [`probe:${vm}`], 'only the live watcher reported the expiry');
  } finally {
    await probe();
  }
});

/**
 * Redis expires a key when it samples it (ten times a second, 20 keys with a TTL at a time) or when
 * someone reads it. Among thousands of long-lived keys with a TTL (cookie nonces) sampling can take
 * long, which is why the reaper also sweeps by reading: this does the same after a second.
 */
async function waitExpired(vm: string, seen: string[], dueAt: number, name = vm): Promise<void> {
  let swept = false;
  while (!seen.includes(name) && Date.now() < dueAt + 10_000) {
    if (!swept && Date.now() > dueAt + 1000) {
      swept = true;
      await autokill.holder(vm);
    }
    await sleep(20);
  }
}

// Every multi-key Lua script ferry runs must name keys of one Redis Cluster slot, or a cluster
// refuses it (CROSSSLOT). The stores are driven here against a recorder standing in for ioredis
// that keeps the KEYS of each script call; the slot is computed as Redis Cluster does (CRC16 of the
// key's hash tag, mod 16384).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Redis } from 'ioredis';
import { HostRegistry } from '../../hosts/agent/registration.ts';
import { AutokillLeases } from '../../infra/redis/autokill.ts';
import { CookieNonces } from '../../infra/redis/cookie-nonces.ts';
import { DiskLeases } from '../../infra/redis/disk-leases.ts';
import { JobStore } from '../../infra/redis/jobs.ts';
import { MigrationSlots } from '../../infra/redis/migration-slots.ts';

/** CRC16-CCITT (XMODEM), the checksum of the Redis Cluster specification. */
function crc16(data: Buffer): number {
  let crc = 0;
  for (const byte of data) {
    crc ^= byte << 8;
    for (let i = 0; i < 8; i++) crc = crc & 0x8000 ? ((crc << 1) ^ 0x1021) & 0xffff : (crc << 1) & 0xffff;
  }
  return crc;
}

/** The slot of a key: of its hash tag (the first non-empty {...}) if it has one. */
function keySlot(key: string): number {
  const open = key.indexOf('{');
  const close = open === -1 ? -1 : key.indexOf('}', open + 1);
  const tagged = close > open + 1 ? key.slice(open + 1, close) : key;
  return crc16(Buffer.from(tagged)) % 16384;
}

class Recorded extends Error {}

/** Stands in for ioredis: each script call records its keys and fails, so the store stops there. */
function recorder(): { redis: Redis; calls: { command: string; keys: string[] }[] } {
  const calls: { command: string; keys: string[] }[] = [];
  const fake: Record<string, unknown> = {
    defineCommand(command: string, def: { numberOfKeys?: number }) {
      fake[command] = (...args: (string | number)[]) => {
        const n = def.numberOfKeys ?? Number(args.shift());
        calls.push({ command, keys: args.slice(0, n).map(String) });
        return Promise.reject(new Recorded());
      };
    },
    // A transaction records the keys of all its commands (DEL and MGET take several).
    multi() {
      const keys: string[] = [];
      const chain: Record<string, unknown> = new Proxy(
        {},
        {
          get: (_, name: string) =>
            name === 'exec'
              ? () => {
                  calls.push({ command: 'multi', keys });
                  return Promise.resolve([]);
                }
              : (...args: unknown[]) => {
                  keys.push(...(name === 'del' ? args : args.slice(0, 1)).map(String));
                  return chain;
                },
        },
      );
      return chain;
    },
    // MigrationSlots.release reads the holder first; HostRegistry.deregister the host's last record.
    get: () => Promise.resolve(null),
    hgetall: () =>
      Promise.resolve({ vm: 'vm-1', source: 'h-a', destination: 'h-b', memoryMiB: '64', acquiredAt: '1' }),
  };
  return { redis: fake as unknown as Redis, calls };
}

async function recorded(op: () => Promise<unknown>): Promise<void> {
  await assert.rejects(op(), Recorded);
}

test('redis hash tags - the slot function agrees with Redis Cluster', () => {
  assert.equal(crc16(Buffer.from('123456789')), 0x31c3, 'the specification check value');
  assert.equal(keySlot('foo'), 12182);
  assert.equal(keySlot('somekey'), 11058);
  assert.equal(keySlot('{user1000}.following'), keySlot('user1000'));
  assert.equal(
    keySlot('foo{}{bar}'),
    crc16(Buffer.from('foo{}{bar}')) % 16384,
    'an empty tag: the whole key',
  );
});

test('redis hash tags - every multi-key script and transaction of the stores names keys of one slot', async () => {
  const { redis, calls } = recorder();
  for (const prefix of ['ferry', 'test:tags-1234']) {
    const jobs = new JobStore(redis, prefix);
    const job = { vm: 'vm-1', host: 'h-a', owner: 'm-1' };
    await recorded(() => jobs.start({ ...job, job: 'MIGRATION_OUT', phase: 'begin3', peer: 'h-b' }));
    await recorded(() => jobs.finish(job));
    const autokill = new AutokillLeases(redis, prefix);
    await recorded(() => autokill.register({ vm: 'vm-1', host: 'h-b', owner: 'm-1', ttlMs: 1000 }));
    await recorded(() => autokill.claim({ vm: 'vm-1', owner: 'm-1' }));
    const disks = new DiskLeases(redis, prefix);
    await recorded(() => disks.acquire({ host: 'h-a', vm: 'vm-1' }, ['vm-1-disk0', 'vm-1-disk1', 'shared']));
    await recorded(() => disks.release({ host: 'h-a', vm: 'vm-1' }, ['vm-1-disk0', 'vm-1-disk1']));
    await recorded(() => new CookieNonces(redis, prefix).consume('n-1', 'm-1:prepare@h-b', 1000, 'e'));
    const slots = new MigrationSlots(redis, prefix);
    const limits = { cluster: 4, perSource: 2, perDestination: 2 };
    const candidates = [
      { host: 'h-b', freeMiB: 512 },
      { host: 'h-c', freeMiB: 512 },
    ];
    const request = { migrationId: 'm-1', vm: 'vm-1', source: 'h-a', memoryMiB: 64, limits, ttlMs: 1000 };
    await recorded(() => slots.tryAcquire({ ...request, candidates }));
    const holder = { migrationId: 'm-1', vm: 'vm-1', source: 'h-a', destination: 'h-b', memoryMiB: 64 };
    await recorded(() => slots.renew(holder, 1000));
    await recorded(() => slots.release('m-1'));
    const registry = new HostRegistry(redis, prefix);
    const reg = {
      name: 'h-a',
      uuid: '00000000-0000-4000-8000-000000000001',
      address: '127.0.0.1',
      dataPort: 1,
      memoryMiB: 1,
      usedMiB: 0,
      guests: 0,
      pid: 1,
      heartbeatAt: new Date(0).toISOString(),
    };
    await registry.heartbeat(reg, { guests: [] });
    await registry.deregister('h-a');
  }
  const multiKey = calls.filter((c) => c.keys.length > 1);
  assert.equal(multiKey.length, 2 * 12, 'every multi-key call was recorded');
  for (const { command, keys } of multiKey) {
    const slots = new Set(keys.map(keySlot));
    assert.equal(slots.size, 1, `${command} names keys of ${slots.size} slots: ${keys.join(' ')}`);
  }
});

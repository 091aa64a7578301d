// Redis under Sentinel, of this file's own: the stack's Redis as the primary, a replica and one
// Sentinel. ferry's client asks the Sentinel for the primary (FERRY_REDIS_SENTINELS); when the
// primary stops, the Sentinel promotes the replica and the same client goes on writing there, the
// leases it wrote before (acknowledged by the replica: FERRY_REDIS_WAIT_REPLICAS=1) still held.
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { loadConfig, type Config } from '../infra/config.ts';
import { findOnPath } from '../infra/provision/debian-package.ts';
import { createRedis } from '../infra/redis/client.ts';
import { DiskLeases } from '../infra/redis/disk-leases.ts';
import { startService, stopService } from '../infra/stack/stack.ts';
import { privateStack, type PrivateStack } from './support/private-stack.ts';
import { freePort } from '../infra/process/port.ts';

const MASTER = 'ferry-test';
let stack: PrivateStack;
let primary: Config;
const dir = mkdtempSync(join(tmpdir(), 'ferry-redis-sentinel-'));
const children: ChildProcess[] = [];
let replicaPort = 0;
let sentinelPort = 0;

before(async () => {
  stack = await privateStack('redis-sentinel');
  primary = loadConfig({ ...process.env, ...stack.env, FERRY_SECURITY: 'off' });
  assert.equal((await startService(primary, 'redis', () => undefined)).outcome, 'started');
  const binary = findOnPath('redis-server');
  assert.ok(binary, 'redis-server is installed (stack up put it there)');
  [replicaPort, sentinelPort] = [await freePort(primary.bindHost), await freePort(primary.bindHost)];
  const host = primary.bindHost;
  children.push(
    spawn(
      binary,
      ['--bind', host, '--port', String(replicaPort), '--replicaof', host, String(primary.redis.port)].concat(
        ['--dir', dir, '--save', '', '--appendonly', 'no'],
      ),
      { stdio: 'ignore' },
    ),
  );
  // A Sentinel rewrites its configuration file, so it gets one of its own.
  const conf = join(dir, 'sentinel.conf');
  writeFileSync(
    conf,
    [
      `bind ${host}`,
      `port ${sentinelPort}`,
      `dir ${dir}`,
      `sentinel monitor ${MASTER} ${host} ${primary.redis.port} 1`,
      `sentinel down-after-milliseconds ${MASTER} 1000`,
      `sentinel failover-timeout ${MASTER} 5000`,
    ].join('\n') + '\n',
  );
  children.push(spawn(binary, [conf, '--sentinel'], { stdio: 'ignore' }));
  // The Sentinel learns of the replica from the primary's INFO, at most 10 s after it starts.
  const sentinel = new Redis(sentinelPort, host, { maxRetriesPerRequest: 1, lazyConnect: true });
  sentinel.on('error', () => undefined);
  try {
    const deadline = Date.now() + 30_000;
    for (;;) {
      const replicas = (await sentinel.call('SENTINEL', 'REPLICAS', MASTER).catch(() => [])) as string[][];
      if (replicas.some((r) => r.join(' ').includes('master-link-status ok'))) break;
      if (Date.now() > deadline) throw new Error('the Sentinel did not see the synced replica within 30 s');
      await sleep(200);
    }
  } finally {
    sentinel.disconnect();
  }
});

after(async () => {
  for (const child of children) {
    if (child.exitCode !== null || child.signalCode !== null) continue;
    const exited = once(child, 'exit');
    child.kill('SIGTERM'); // the processes this file started, by their handles (their pids)
    await exited;
  }
  await stack?.dispose();
  rmSync(dir, { recursive: true, force: true });
});

test('redis sentinel - after a failover the same client writes to the promoted replica, leases kept', async () => {
  const cfg = loadConfig({
    ...process.env,
    ...stack.env,
    FERRY_SECURITY: 'off',
    FERRY_REDIS_SENTINELS: `${primary.bindHost}:${sentinelPort}`,
    FERRY_REDIS_SENTINEL_MASTER: MASTER,
    FERRY_REDIS_WAIT_REPLICAS: '1',
  });
  const redis = createRedis(cfg, 'test-sentinel', { patient: true });
  // Writes after the failover: the promoted replica has no replica of its own to wait for.
  const writer = createRedis({ ...cfg, redis: { ...cfg.redis, waitReplicas: 0 } }, 'test-sentinel-writer');
  try {
    const leases = new DiskLeases(redis);
    const [before] = await leases.acquire({ host: 'h-a', vm: 'vm-s1' }, ['vm-s1-disk0']);
    assert.equal(await portOf(redis), primary.redis.port, 'the Sentinel named the stack’s Redis');
    await stopService(primary, 'redis', () => undefined);
    const deadline = Date.now() + 30_000;
    while ((await portOf(redis).catch(() => 0)) !== replicaPort) {
      if (Date.now() > deadline) throw new Error('the client did not reach the promoted replica within 30 s');
      await sleep(200);
    }
    assert.deepEqual(
      await leases.holderOf('vm-s1-disk0'),
      before,
      'the lease and its fencing token survived',
    );
    const [next] = await new DiskLeases(writer).acquire({ host: 'h-b', vm: 'vm-s2' }, ['vm-s2-disk0']);
    assert.ok(next && next.token > 0, 'a new lease is taken on the promoted replica');
    assert.equal(await portOf(writer), replicaPort);
  } finally {
    redis.disconnect();
    writer.disconnect();
  }
});

/** The port of the Redis the client is connected to, as that Redis says. */
async function portOf(redis: Redis): Promise<number> {
  return Number(/tcp_port:(\d+)/.exec(await redis.info('server'))?.[1]);
}

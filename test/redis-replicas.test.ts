// A Redis of this file's own with one replica, and FERRY_REDIS_WAIT_REPLICAS=1: a write a lease
// depends on answers only once the replica has it, and fails, naming the replicas, when none
// acknowledges it in time (docs/redis.md, "Replicated Redis").
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { loadConfig, type Config } from '../infra/config.ts';
import { findOnPath } from '../infra/provision/debian-package.ts';
import { createRedis } from '../infra/redis/client.ts';
import { JobStore } from '../infra/redis/jobs.ts';
import { claimPlacement } from '../infra/redis/placement.ts';
import { startService } from '../infra/stack/stack.ts';
import { privateStack, type PrivateStack } from './support/private-stack.ts';
import { freePort } from '../infra/process/port.ts';

let stack: PrivateStack;
let cfg: Config;
let redis: Redis;
let replica: ChildProcess | undefined;
let replicaClient: Redis;
const replicaDir = mkdtempSync(join(tmpdir(), 'ferry-redis-replica-'));

before(async () => {
  stack = await privateStack('redis-replicas');
  cfg = loadConfig({
    ...process.env,
    ...stack.env,
    FERRY_SECURITY: 'off',
    FERRY_REDIS_WAIT_REPLICAS: '1',
    FERRY_REDIS_WAIT_MS: '500',
  });
  assert.equal((await startService(cfg, 'redis', () => undefined)).outcome, 'started');
  const port = await freePort(cfg.bindHost);
  const binary = findOnPath('redis-server');
  assert.ok(binary, 'redis-server is installed (stack up put it there)');
  replica = spawn(
    binary,
    [
      '--bind',
      cfg.bindHost,
      '--port',
      String(port),
      '--replicaof',
      cfg.bindHost,
      String(cfg.redis.port),
    ].concat(['--dir', replicaDir, '--save', '', '--appendonly', 'no', '--daemonize', 'no']),
    { stdio: 'ignore' },
  );
  replicaClient = new Redis(port, cfg.bindHost, { maxRetriesPerRequest: 1 });
  replicaClient.on('error', () => undefined);
  redis = createRedis(cfg, 'test-replicas');
  const deadline = Date.now() + 20_000;
  while (!/master_link_status:up/.test(await replicaClient.info('replication').catch(() => ''))) {
    if (Date.now() > deadline) throw new Error('the replica did not sync with its primary within 20 s');
    await sleep(100);
  }
});

after(async () => {
  redis?.disconnect();
  replicaClient?.disconnect();
  await stopReplica();
  await stack?.dispose();
  rmSync(replicaDir, { recursive: true, force: true });
});

async function stopReplica(): Promise<void> {
  if (!replica || replica.exitCode !== null || replica.signalCode !== null) return;
  const exited = once(replica, 'exit');
  replica.kill('SIGTERM'); // the process this file started, by its handle (its pid)
  await exited;
}

test('redis replicas - a lease-bearing write answers once the replica has it', async () => {
  const jobs = new JobStore(redis);
  await jobs.start({
    vm: 'vm-r1',
    host: 'h-a',
    job: 'MIGRATION_OUT',
    phase: 'begin3',
    owner: 'm-1',
    peer: 'h-b',
  });
  // No wait here: the write was on the replica when the start answered.
  assert.equal(await replicaClient.hget('ferry:job:{h-a}:vm-r1', 'owner'), 'm-1');
  assert.equal(await claimPlacement(redis, 'vm-r1', 'h-a'), null);
  assert.equal(await replicaClient.get('ferry:vm:vm-r1'), 'h-a');
});

test('redis replicas - with no replica to acknowledge it, the write fails naming the replicas', async () => {
  await stopReplica();
  const started = Date.now();
  await assert.rejects(
    new JobStore(redis).start({
      vm: 'vm-r2',
      host: 'h-a',
      job: 'MIGRATION_OUT',
      phase: 'begin3',
      owner: 'm-2',
      peer: 'h-b',
    }),
    (err: Error) =>
      err.name === 'RedisNotReplicatedError' && /0 of 1 Redis replicas .* 500 ms/.test(err.message),
  );
  assert.ok(Date.now() - started >= 450, 'it waited for the replica');
  await assert.rejects(claimPlacement(redis, 'vm-r2', 'h-a'), /0 of 1 Redis replicas/);
});

// Redis with security on, on a Redis of this file's own (a private state dir, CA and port): TLS
// only, client certificates from the cluster CA, ACL users per role and the default user off. Each
// role does its real work through ferry's own stores, and is refused what belongs to another.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { Redis, type RedisOptions } from 'ioredis';
import { HostRegistry } from '../hosts/agent/registration.ts';
import { loadConfig, type Config } from '../infra/config.ts';
import { initCaSync, loadIdentitySync, type IdentityBundle } from '../infra/pki/index.ts';
import { AutokillLeases } from '../infra/redis/autokill.ts';
import { createRedis } from '../infra/redis/client.ts';
import { CookieNonces } from '../infra/redis/cookie-nonces.ts';
import { DiskLeases, raiseGenerationFloor } from '../infra/redis/disk-leases.ts';
import { DrainMarks } from '../infra/redis/draining.ts';
import { FinishedMigrations } from '../infra/redis/finished-migrations.ts';
import { JobStore } from '../infra/redis/jobs.ts';
import { addKey, KEYRING_KEYS, readRing } from '../infra/redis/keyring.ts';
import { MigrationSlots } from '../infra/redis/migration-slots.ts';
import { allPlacements } from '../infra/redis/placement-scan.ts';
import { claimPlacement, movePlacement, placementOf, releasePlacement } from '../infra/redis/placement.ts';
import { redisAclPath } from '../infra/redis/service.ts';
import { startService, stopService } from '../infra/stack/stack.ts';
import { privateStack, type PrivateStack } from './support/private-stack.ts';

let stack: PrivateStack;
let cfg: Config;
const ids = {} as Record<'agent' | 'controller' | 'operator', IdentityBundle>;
const clients: Redis[] = [];

before(async () => {
  stack = await privateStack('redis-security');
  cfg = loadConfig({ ...process.env, ...stack.env, FERRY_SECURITY: 'on' });
  const up = await startService(cfg, 'redis', () => undefined);
  assert.equal(up.outcome, 'started');
  ids.agent = loadIdentitySync(cfg, 'host', 'sec-a');
  ids.controller = loadIdentitySync(cfg, 'controller', 'sec-ctl');
  ids.operator = loadIdentitySync(cfg, 'operator', 'sec-op');
});

after(async () => {
  for (const c of clients) c.disconnect();
  await stack?.dispose();
});

function as(role: keyof typeof ids): Redis {
  const client = createRedis(cfg, `test-security-${role}`, { identity: ids[role] });
  clients.push(client);
  return client;
}

/** A client of our own making, failing at once: for the connections that must be refused. */
async function ping(options: RedisOptions): Promise<string> {
  const client = new Redis({
    host: cfg.bindHost,
    port: cfg.redis.port,
    lazyConnect: true,
    connectTimeout: 3000,
    commandTimeout: 3000,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
    disableClientInfo: true,
    enableReadyCheck: false,
    ...options,
  });
  // The connection's own error (a TLS verdict, say) comes as an event; the command only hears
  // that the connection closed, so the failure names both.
  let cause: Error | undefined;
  client.on('error', (err: Error) => (cause ??= err));
  try {
    await client.connect();
    return await client.ping();
  } catch (err) {
    throw new Error(`${(err as Error).message}${cause ? ` (${cause.message})` : ''}`, { cause: err });
  } finally {
    client.disconnect();
  }
}

/** The promise, or a failure naming what did not come within ms. */
async function within<T>(ms: number, promise: Promise<T>, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not come within ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([promise, deadline]);
  } finally {
    clearTimeout(timer);
  }
}

const tlsOf = (id: IdentityBundle) => ({ ca: id.ca, cert: id.cert, key: id.key });
const agentLogin = () => ({
  username: ids.agent.credentials.redis.user,
  password: ids.agent.credentials.redis.password,
});

test('redis security - the ACL file is private and the right identity answers', async () => {
  assert.equal(statSync(redisAclPath(cfg)).mode & 0o777, 0o600);
  assert.equal(await ping({ tls: tlsOf(ids.agent), ...agentLogin() }), 'PONG');
  assert.equal(await as('agent').acl('WHOAMI'), 'agent');
  assert.equal(await as('operator').acl('WHOAMI'), 'operator');
});

test('redis security - a connection without credentials is refused', async () => {
  await assert.rejects(ping({ tls: tlsOf(ids.agent) }), /NOAUTH/);
});

test('redis security - the default user is refused', async () => {
  await assert.rejects(
    ping({ tls: tlsOf(ids.agent), username: 'default', password: 'anything' }),
    /WRONGPASS/,
  );
});

test('redis security - a wrong password is refused', async () => {
  await assert.rejects(
    ping({ tls: tlsOf(ids.agent), username: 'agent', password: 'not-the-password' }),
    /WRONGPASS/,
  );
  await assert.rejects(
    ping({ tls: tlsOf(ids.agent), username: 'operator', password: ids.agent.credentials.redis.password }),
    /WRONGPASS/,
    "the agent's password is not the operator's",
  );
});

test('redis security - a plaintext connection is refused', async () => {
  await assert.rejects(ping(agentLogin()));
});

test('redis security - TLS without a client certificate is refused', async () => {
  await assert.rejects(ping({ tls: { ca: ids.agent.ca }, ...agentLogin() }));
});

test('redis security - a certificate of another CA is refused, and so is a server of another CA', async () => {
  // Another cluster: its own CA, an identity of the same role and name.
  const dir = mkdtempSync(join(tmpdir(), 'ferry-other-ca-'));
  try {
    const other = loadConfig({ ...process.env, ...stack.env, FERRY_STATE_DIR: dir, FERRY_SECURITY: 'on' });
    initCaSync(other);
    const stranger = loadIdentitySync(other, 'host', 'sec-a');
    await assert.rejects(
      ping({ tls: { ca: ids.agent.ca, cert: stranger.cert, key: stranger.key }, ...agentLogin() }),
      'the server refuses a client certificate its CA did not issue',
    );
    await assert.rejects(
      ping({ tls: { ca: stranger.ca, cert: ids.agent.cert, key: ids.agent.key }, ...agentLogin() }),
      /self[- ]signed|unable to verify|certificate/i,
      'the client refuses a server its CA did not issue',
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('redis security - an agent cannot do what only the operator or the controller does', async () => {
  const agent = as('agent');
  await assert.rejects(addKey(agent, 'codec', 'rotate'), /NOPERM/, 'the keyring is the operator’s to write');
  await assert.rejects(agent.hset(KEYRING_KEYS.cluster, 'deadbeef', '{}'), /NOPERM/);
  await assert.rejects(agent.flushall(), /NOPERM/);
  await assert.rejects(agent.config('GET', 'dir'), /NOPERM/);
  await assert.rejects(agent.call('ACL', 'SETUSER', 'agent', '+@all'), /NOPERM/);
  await assert.rejects(agent.keys('*'), /NOPERM/);
  await assert.rejects(
    new DrainMarks(agent).mark('sec-b', 'agent'),
    /NOPERM/,
    'drain marks are not an agent’s',
  );
  await assert.rejects(agent.set('ferry:{slots}:cluster', 'x'), /NOPERM/, 'slots are the controller’s');
  await assert.rejects(agent.set('somebody-else:key', 'x'), /NOPERM/, 'nothing outside ferry’s records');
});

test('redis security - a controller cannot touch what belongs to the hosts', async () => {
  const controller = as('controller');
  const jobs = new JobStore(controller);
  await assert.rejects(
    jobs.start({
      vm: 'vm-c',
      host: 'sec-a',
      job: 'MIGRATION_OUT',
      phase: 'begin3',
      owner: 'm',
      peer: 'sec-b',
    }),
    /NOPERM/,
  );
  await assert.rejects(new DiskLeases(controller).acquire({ host: 'sec-a', vm: 'vm-c' }, ['d']), /NOPERM/);
  await assert.rejects(claimPlacement(controller, 'vm-c', 'sec-a'), /NOPERM/);
  await assert.rejects(addKey(controller, 'cluster', 'rotate'), /NOPERM/);
  await assert.rejects(controller.flushall(), /NOPERM/);
});

test('redis security - the operator writes the keyrings but cannot reconfigure, flush or stop Redis', async () => {
  const operator = as('operator');
  const added = await addKey(operator, 'codec', 'rotate');
  assert.ok(added, 'a key was added');
  // The stack may have made the ring's first key already: the one added here is the newest.
  const ring = (await readRing(operator, 'codec')).map((k) => k.id);
  assert.equal(ring.at(-1), added.id, 'the added key is current');
  assert.deepEqual(
    (await readRing(as('agent'), 'codec')).map((k) => k.id),
    ring,
    'an agent reads the ring',
  );
  assert.deepEqual(
    (await readRing(as('controller'), 'codec')).map((k) => k.id),
    ring,
    'so does a controller',
  );
  await assert.rejects(operator.flushall(), /NOPERM/);
  await assert.rejects(operator.config('SET', 'appendonly', 'no'), /NOPERM/);
  await assert.rejects(operator.call('ACL', 'SETUSER', 'operator', '+@all'), /NOPERM/);
  // SHUTDOWN, were it allowed, would stop this file's Redis: the admin asks Redis whether it is.
  const admin = createRedis(cfg, 'test-security-admin', {
    identity: loadIdentitySync(cfg, 'service', 'admin'),
  });
  clients.push(admin);
  for (const command of [['SHUTDOWN'], ['DEBUG', 'SLEEP', '0'], ['REPLICAOF', 'NO', 'ONE'], ['MONITOR']]) {
    assert.match(
      String(await admin.call('ACL', 'DRYRUN', 'operator', ...command)),
      /no permissions/,
      command[0],
    );
  }
  assert.equal(await admin.call('ACL', 'DRYRUN', 'operator', 'GET', 'ferry:vm:x'), 'OK');
});

test('redis security - an agent does its real work: jobs, leases, placements, nonces, registration', async () => {
  const agent = as('agent');
  const host = 'sec-a';
  const vm = 'vm-sec-1';
  const owner = `m-${randomUUID()}`;
  const jobs = new JobStore(agent);
  await jobs.start({ vm, host, job: 'MIGRATION_IN', phase: 'prepare', owner, peer: 'sec-b' });
  await jobs.startPhase({ vm, host, job: 'MIGRATION_IN', phase: 'finish3', owner });
  assert.equal((await jobs.listForHost(host)).length, 1);
  assert.equal(await jobs.finish({ vm, host, owner }), true);

  const disks = new DiskLeases(agent);
  assert.ok((await raiseGenerationFloor(agent)) > 0);
  const [lease] = await disks.acquire({ host, vm }, [`${vm}-disk0`]);
  assert.ok(lease && lease.token > 0);
  assert.equal((await disks.heldBy(host)).length, 1);
  await disks.release({ host, vm }, [`${vm}-disk0`]);

  const autokill = new AutokillLeases(agent);
  let heard: (vm: string) => void = () => undefined;
  const lapsed = new Promise<string>((resolve) => (heard = resolve));
  const stopWatching = await autokill.watchExpiry((v) => v === 'vm-sec-lapse' && heard(v));
  try {
    assert.equal(await autokill.register({ vm, host, owner, ttlMs: 60_000 }), true);
    assert.equal((await autokill.holder(vm))?.owner, owner);
    assert.equal(await autokill.claim({ vm, owner }), true);
    await autokill.register({ vm: 'vm-sec-lapse', host, owner, ttlMs: 200 });
    assert.equal(
      await within(10_000, lapsed, 'the lapse notification'),
      'vm-sec-lapse',
      'the agent hears it',
    );
  } finally {
    await stopWatching();
  }

  assert.equal(await claimPlacement(agent, vm, host), null);
  assert.equal(await movePlacement(agent, vm, host, 'sec-b'), true);
  await releasePlacement(agent, vm, 'sec-b');

  const nonces = new CookieNonces(agent);
  const epoch = await nonces.currentEpoch();
  assert.equal(await nonces.consume(randomUUID(), `${owner}:prepare@${host}`, 60_000, epoch), 'fresh');
  await new FinishedMigrations(agent).record(owner, { cookie: 'c', digest: 'd' });
  assert.deepEqual(await new FinishedMigrations(agent).get(owner), { cookie: 'c', digest: 'd' });
  assert.equal(await new DrainMarks(agent).get(host), undefined, 'an agent reads drain marks');

  const registry = new HostRegistry(agent);
  const uuid = randomUUID();
  await registry.claim(host, uuid);
  await registry.heartbeat(
    {
      name: host,
      uuid,
      address: '127.0.0.1',
      dataPort: 1,
      memoryMiB: 1024,
      usedMiB: 0,
      guests: 0,
      pid: process.pid,
      heartbeatAt: new Date().toISOString(),
    },
    { guests: [] },
  );
  assert.equal((await registry.read(host))?.uuid, uuid);
});

test('redis security - a controller does its real work: slots, keepalives, drain marks', async () => {
  const controller = as('controller');
  for (const prefix of ['ferry', 'ferry:ferry.test-queue']) {
    const slots = new MigrationSlots(controller, prefix);
    const id = `m-${randomUUID()}`;
    const answer = await slots.tryAcquire({
      migrationId: id,
      vm: 'vm-sec-2',
      source: 'sec-a',
      memoryMiB: 64,
      candidates: [{ host: 'sec-b', freeMiB: 1024 }],
      limits: { cluster: 4, perSource: 2, perDestination: 2 },
      ttlMs: 60_000,
    });
    assert.deepEqual(answer, { kind: 'acquired', destination: 'sec-b' });
    const holder = { migrationId: id, vm: 'vm-sec-2', source: 'sec-a', destination: 'sec-b', memoryMiB: 64 };
    assert.equal(await slots.renew(holder, 60_000), 'renewed');
    assert.equal((await slots.load(['sec-b'])).get('sec-b')?.inbound, 1);
    assert.equal(await slots.release(id), true);
  }
  const owner = `m-${randomUUID()}`;
  await new AutokillLeases(as('agent')).register({ vm: 'vm-sec-3', host: 'sec-b', owner, ttlMs: 60_000 });
  const autokill = new AutokillLeases(controller);
  assert.equal(await autokill.renew({ vm: 'vm-sec-3', owner, ttlMs: 60_000 }), true);
  assert.equal(await autokill.drop({ vm: 'vm-sec-3', owner }), true);
  const marks = new DrainMarks(controller);
  assert.equal((await marks.mark('sec-c', 'drain-1')).by, 'drain-1');
  assert.equal((await marks.many(['sec-c', 'sec-d'])).size, 1);
  assert.ok(
    (await new HostRegistry(controller).list()).some((h) => h.name === 'sec-a'),
    'reads registrations',
  );
});

test('redis security - the operator does its real work: placements, drain marks, status', async () => {
  const operator = as('operator');
  assert.equal(await claimPlacement(operator, 'vm-sec-4', 'sec-a'), null);
  assert.equal((await allPlacements(operator)).get('vm-sec-4'), 'sec-a');
  await releasePlacement(operator, 'vm-sec-4', 'sec-a');
  assert.equal(await placementOf(operator, 'vm-sec-4'), null);
  assert.equal(await new DrainMarks(operator).clear('sec-c'), true);
  assert.deepEqual(await new JobStore(operator).listForHost('sec-a'), [], 'the agent finished its job');
  assert.deepEqual(await new DiskLeases(operator).heldBy('sec-a'), [], 'and released its disk');
});

test('redis security - what scripts and transactions wrote survives a restart (the AOF replays under ACLs)', async () => {
  const agent = as('agent');
  const owner = `m-${randomUUID()}`;
  const job = { vm: 'vm-sec-5', host: 'sec-a', owner };
  await new JobStore(agent).start({ ...job, job: 'MIGRATION_OUT', phase: 'begin3', peer: 'sec-b' });
  const [lease] = await new DiskLeases(agent).acquire({ host: 'sec-a', vm: 'vm-sec-5' }, ['vm-sec-5-disk0']);
  const epoch = await new CookieNonces(agent).currentEpoch(); // a MULTI
  await stopService(cfg, 'redis', () => undefined);
  await startService(cfg, 'redis', () => undefined);
  const after = as('agent');
  assert.equal((await new JobStore(after).get('vm-sec-5', 'sec-a'))?.owner, owner, 'the job (a script)');
  assert.deepEqual(await new DiskLeases(after).holderOf('vm-sec-5-disk0'), lease, 'the lease and its token');
  assert.equal(await new CookieNonces(after).currentEpoch(), epoch, 'the epoch (a transaction)');
});

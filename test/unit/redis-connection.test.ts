import assert from 'node:assert/strict';
import { test } from 'node:test';
import { loadConfig } from '../../infra/config.ts';
import type { IdentityBundle } from '../../infra/pki/index.ts';
import { aclFile, aclLine } from '../../infra/redis/acl.ts';
import { redisConnectOptions, redisEndpoint } from '../../infra/redis/connection.ts';

const env = (over: Record<string, string> = {}) =>
  loadConfig({ HOME: '/nonexistent', FERRY_STATE_DIR: '/nonexistent/state', ...over });

const identity = {
  ca: Buffer.from('CA'),
  cert: Buffer.from('CERT'),
  key: Buffer.from('KEY'),
  credentials: {
    redis: { user: 'agent', password: 'p'.repeat(43) },
    kafka: { user: 'agent', password: 'k' },
  },
} as unknown as IdentityBundle;

test('redis connection - the default URL is the loopback plaintext Redis stack up starts', () => {
  const cfg = env({ FERRY_REDIS_PORT: '16400' });
  assert.deepEqual(redisEndpoint(cfg), { host: '127.0.0.1', port: 16400, tls: false, db: 0 });
  assert.deepEqual(redisConnectOptions(cfg), { host: '127.0.0.1', port: 16400, db: 0 });
});

test('redis connection - a rediss URL with credentials and a database is taken apart', () => {
  const cfg = env({ FERRY_REDIS_URL: 'rediss://controller:s%40cret@10.0.0.5:6380/2' });
  assert.deepEqual(redisEndpoint(cfg), {
    host: '10.0.0.5',
    port: 6380,
    tls: true,
    db: 2,
    username: 'controller',
    password: 's@cret',
  });
  assert.equal(redisEndpoint(env({ FERRY_REDIS_URL: 'redis://redis.example' })).port, 6379);
});

test('redis connection - a URL that is not one is refused with one line that hides its password', () => {
  const cfg = env({ FERRY_REDIS_URL: 'rediss://agent:hunter2@10.0.0.5:6380/not-a-db' });
  assert.throws(
    () => redisEndpoint(cfg),
    (err: Error) =>
      err.name === 'RedisUrlError' && /database number/.test(err.message) && !err.message.includes('hunter2'),
  );
});

test("redis connection - security on: TLS with the identity's certificate and its role's user", () => {
  const cfg = env({ FERRY_SECURITY: 'on', FERRY_REDIS_PORT: '16400' });
  const options = redisConnectOptions(cfg, identity);
  assert.deepEqual(options.tls, { ca: identity.ca, cert: identity.cert, key: identity.key });
  assert.equal(options.username, 'agent');
  assert.equal(options.password, identity.credentials.redis.password);
  const explicit = redisConnectOptions(
    env({ FERRY_SECURITY: 'on', FERRY_REDIS_URL: 'redis://operator:mine@127.0.0.1:16400' }),
    identity,
  );
  assert.ok(explicit.tls, 'TLS even when the URL says redis://: the server takes nothing else');
  assert.equal(explicit.username, 'operator', 'credentials in the URL win');
  assert.equal(explicit.password, 'mine');
});

test('redis connection - with Sentinels the client asks them for the primary, over TLS when security is on', () => {
  const sentinels = {
    FERRY_REDIS_SENTINELS: '10.0.0.1:26379, 10.0.0.2:26380',
    FERRY_REDIS_SENTINEL_MASTER: 'prod',
  };
  const plain = redisConnectOptions(env(sentinels));
  assert.deepEqual(plain.sentinels, [
    { host: '10.0.0.1', port: 26379 },
    { host: '10.0.0.2', port: 26380 },
  ]);
  assert.equal(plain.name, 'prod');
  assert.equal(plain.host, undefined, 'no fixed address');
  const secure = redisConnectOptions(env({ ...sentinels, FERRY_SECURITY: 'on' }), identity);
  assert.equal(secure.enableTLSForSentinelMode, true);
  assert.deepEqual(secure.sentinelTLS, secure.tls);
  assert.equal(secure.sentinelUsername, 'agent');
  assert.throws(() => env({ FERRY_REDIS_SENTINELS: 'nope' }), /FERRY_REDIS_SENTINELS/);
});

test('redis acl - the default user is sealed and passwords are stored hashed', () => {
  const seal = 's'.repeat(43);
  const passwords = { admin: 'a-secret', agent: 'b-secret', controller: 'c-secret', operator: 'd-secret' };
  const file = aclFile(passwords, seal);
  const lines = file.trim().split('\n');
  // Every permission (Redis 7.0 replays the AOF's transactions as the default user) behind a
  // password nobody keeps.
  assert.match(lines[0]!, /^user default on #[0-9a-f]{64} resetkeys resetchannels ~\* &\* \+@all$/);
  assert.ok(!file.includes(seal), 'the seal is not in the file');
  assert.throws(() => aclFile(passwords, 'short'), /at least 32/);
  assert.deepEqual(
    lines.map((l) => l.split(' ')[1]),
    ['default', 'admin', 'agent', 'controller', 'operator'],
  );
  assert.ok(!/-secret/.test(file), 'no password in clear');
  assert.match(lines[2]!, /^user agent on #[0-9a-f]{64} /);
});

test('redis acl - an agent reads but never writes the keyrings; only the admin has every command', () => {
  const agent = aclLine('agent', 'x');
  assert.match(agent, / %R~ferry:\{keyring\}:\* /);
  assert.ok(!/ ~ferry:\{keyring\}/.test(agent), 'no read-write pattern for the keyrings');
  assert.ok(!agent.includes('+@all') && !aclLine('operator', 'x').includes('+@all'));
  assert.ok(!/\+(flushall|config|shutdown|acl\|setuser)\b/.test(aclLine('operator', 'x')));
  assert.match(aclLine('admin', 'x'), / ~\* &\* \+@all$/);
});

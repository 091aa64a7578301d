import { randomBytes } from 'node:crypto';
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Redis, type RedisOptions } from 'ioredis';
import type { Config } from '../config.ts';
import { adminIdentity, initCa, serviceIdentity, servicePassword } from '../pki/index.ts';
import { ensureBinary } from '../provision/debian-package.ts';
import { run } from '../provision/run.ts';
import type { Probe, ServiceSpec } from '../stack/service.ts';
import { aclFile, REDIS_USERS, type RedisUser } from './acl.ts';
import { ensureKeyrings } from './keyring.ts';

/** The ACL file ferry writes at each start (0600): the users and their password hashes. */
export function redisAclPath(cfg: Config): string {
  return join(cfg.stateDir, 'redis-users.acl');
}

/**
 * Debian's redis-server as ferry's own instance: own port, own data dir, AOF on. With security on
 * it speaks TLS only (client certificates from the cluster CA required) and knows only ferry's ACL
 * users (infra/redis/acl.ts), the default user sealed.
 */
export function redisService(cfg: Config): ServiceSpec {
  const dir = join(cfg.stateDir, 'redis');
  let version = 'unknown';
  return {
    name: 'redis',
    host: cfg.bindHost,
    port: cfg.redis.port,
    otherPorts: [],
    logPath: join(cfg.stateDir, 'logs', 'redis.log'),
    pidPath: join(cfg.stateDir, 'run', 'redis.pid'),
    readyTimeoutMs: 20_000,
    get version() {
      return version;
    },
    async provision(log) {
      const binary = await ensureBinary('redis-server', 'redis-server', log);
      version = /v=(\S+)/.exec((await run(binary, ['--version'])).stdout)?.[1] ?? 'unknown';
    },
    async daemon(log) {
      const binary = await ensureBinary('redis-server', 'redis-server', log);
      mkdirSync(dir, { recursive: true });
      return {
        command: binary,
        args: [
          '--bind',
          cfg.bindHost,
          // Protected mode takes only loopback clients while the default user has no password,
          // which refuses a lab's namespaces; what may reach the bind address is already limited
          // (config: loopback or the lab's bridge), and with security on the default user is off.
          '--protected-mode',
          'no',
          ...(cfg.security.enabled ? await secureArgs(cfg) : ['--port', String(cfg.redis.port)]),
          '--dir',
          dir,
          '--daemonize',
          'no',
          '--logfile',
          '',
          // Leases and fencing tokens must survive a restart: append-only file, synced per write.
          '--appendonly',
          'yes',
          '--appendfsync',
          'always',
          '--save',
          '',
          // Autokill notices lapsed leases through expiry notifications.
          '--notify-keyspace-events',
          'Ex',
        ],
        logPath: this.logPath,
        pidPath: this.pidPath,
      };
    },
    probe: () => probeRedis(cfg),
    // The keyrings' first keys, as admin: agents and controllers may only read the rings.
    async ready(log) {
      if (!cfg.keyring.enabled) return;
      const made = await withAdmin(cfg, ensureKeyrings);
      if (made.length > 0) log(`redis: made the first key of the ${made.join(' and ')} keyring`);
    },
  };
}

async function withAdmin<T>(cfg: Config, use: (redis: Redis) => Promise<T>): Promise<T> {
  const client = new Redis({ ...probeOptions(cfg), disableClientInfo: true, maxRetriesPerRequest: 3 });
  client.on('error', () => undefined);
  try {
    return await use(client);
  } finally {
    client.disconnect();
  }
}

/** TLS on the service's port and no plaintext port; the ACL file written afresh. */
async function secureArgs(cfg: Config): Promise<string[]> {
  await initCa(cfg);
  const tls = await serviceIdentity(cfg, 'redis');
  const passwords = {} as Record<RedisUser, string>;
  for (const user of REDIS_USERS) passwords[user] = servicePassword(cfg, 'redis', user);
  const acl = redisAclPath(cfg);
  // The default user's seal: drawn here, written only as its hash (infra/redis/acl.ts says why).
  const seal = randomBytes(32).toString('base64url');
  writeFileSync(acl, aclFile(passwords, seal), { mode: 0o600 });
  chmodSync(acl, 0o600); // an older file keeps its mode through writeFileSync
  return [
    '--port',
    '0',
    '--tls-port',
    String(cfg.redis.port),
    '--tls-cert-file',
    tls.certPath,
    '--tls-key-file',
    tls.keyPath,
    '--tls-ca-cert-file',
    tls.caPath,
    '--tls-auth-clients',
    'yes',
    '--aclfile',
    acl,
  ];
}

/**
 * How the stack's probe reaches the Redis it started: at the bind address (not cfg.redis.url,
 * which may name another machine's), as the admin user when security is on.
 */
function probeOptions(cfg: Config): RedisOptions {
  const base = { host: cfg.bindHost, port: cfg.redis.port };
  if (!cfg.security.enabled) return base;
  const admin = adminIdentity(cfg);
  return {
    ...base,
    tls: { ca: admin.ca, cert: admin.cert, key: admin.key },
    username: admin.credentials.redis.user,
    password: admin.credentials.redis.password,
  };
}

export async function probeRedis(cfg: Config): Promise<Probe> {
  let options: RedisOptions;
  try {
    options = probeOptions(cfg);
  } catch (err) {
    // No admin identity yet (the CA is made at the first secure start): nothing of ours answers.
    return { answers: false, detail: `no admin identity to probe with: ${(err as Error).message}` };
  }
  const client = new Redis({
    ...options,
    disableClientInfo: true,
    lazyConnect: true,
    connectTimeout: 1500,
    // Something that accepts the connection but never answers must not hang the probe.
    commandTimeout: 2000,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
  });
  client.on('error', () => undefined);
  try {
    await client.connect();
    const pong = await client.ping();
    const info = await client.info('server');
    const version = /redis_version:(\S+)/.exec(info)?.[1];
    return { answers: pong === 'PONG', ...(version ? { version } : {}), detail: `PING answered ${pong}` };
  } catch (err) {
    return { answers: false, detail: `PING failed: ${(err as Error).message}` };
  } finally {
    client.disconnect();
  }
}

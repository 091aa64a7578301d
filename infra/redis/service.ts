import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import type { Config } from '../config.ts';
import { ensureBinary } from '../provision/debian-package.ts';
import { run } from '../provision/run.ts';
import type { Probe, ServiceSpec } from '../stack/service.ts';

/** Debian's redis-server as ferry's own instance: own port, own data dir, AOF on. */
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
          '--port',
          String(cfg.redis.port),
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
  };
}

export async function probeRedis(cfg: Config): Promise<Probe> {
  const client = new Redis(cfg.redis.port, cfg.bindHost, {
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

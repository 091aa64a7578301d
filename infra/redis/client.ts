import { Redis } from 'ioredis';
import type { Config } from '../config.ts';
import type { IdentityBundle } from '../pki/index.ts';
import { redisConnectOptions } from './connection.ts';
import { waitForReplicas } from './replicas.ts';

/** Reconnect attempts before a command fails: ~1 s for a person at the CLI, ~15 s for a daemon. */
const RETRIES = { quick: 3, patient: 12 } as const;

/**
 * A client for ferry's Redis at cfg.redis.url, the address clients dial (a lab host's agent
 * reaches the bridge, not loopback); with security on, over TLS as this process's
 * identity (or `identity`, for a test acting as another role) with its role's ACL user. Commands
 * fail instead of queueing forever while Redis is down: after about a second by default (the CLI:
 * a person is waiting), or, `patient`, after about 15 s (the agents and the controller), so a
 * phase that runs once (Begin, Prepare) rides out a Redis restart instead of rolling the migration
 * back for it.
 */
export function createRedis(
  cfg: Config,
  name = 'ferry',
  opts: { patient?: boolean; identity?: IdentityBundle } = {},
): Redis {
  const client = new Redis({
    ...redisConnectOptions(cfg, opts.identity),
    connectionName: name,
    // ioredis's CLIENT SETINFO is unknown to Redis 7.0 and outside every role's ACL.
    disableClientInfo: true,
    maxRetriesPerRequest: opts.patient ? RETRIES.patient : RETRIES.quick,
    retryStrategy: (attempt) => Math.min(attempt * 200, 2000),
  });
  // Connection errors surface through the commands that fail; this keeps them off stderr.
  client.on('error', () => undefined);
  waitForReplicas(client, { replicas: cfg.redis.waitReplicas, timeoutMs: cfg.redis.waitMs });
  return client;
}

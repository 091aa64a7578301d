import { Redis } from 'ioredis';
import type { Config } from '../config.ts';

/** A client for ferry's Redis. Commands fail fast while Redis is down instead of queueing forever. */
export function createRedis(cfg: Config, name = 'ferry'): Redis {
  const client = new Redis(cfg.redis.port, cfg.bindHost, {
    connectionName: name,
    maxRetriesPerRequest: 3,
    retryStrategy: (attempt) => Math.min(attempt * 200, 2000),
  });
  // Connection errors surface through the commands that fail; this keeps them off stderr.
  client.on('error', () => undefined);
  return client;
}

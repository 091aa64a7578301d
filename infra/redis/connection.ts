// Where and how a client reaches ferry's Redis: the address of cfg.redis.url, and, with security
// on, TLS with this process's certificate and its role's ACL user. The stack's own probe passes the
// admin identity instead of the process's.
import type { RedisOptions } from 'ioredis';
import { z } from 'zod';
import { FerryError } from '../../errors/ferry-error.ts';
import type { Config } from '../config.ts';
import { processIdentity, type IdentityBundle } from '../pki/index.ts';

export class RedisUrlError extends FerryError {
  readonly code = 'REDIS_URL_INVALID';
}

const UrlSchema = z.object({
  protocol: z.enum(['redis:', 'rediss:']),
  hostname: z.string().min(1),
  port: z.string().regex(/^\d*$/),
  username: z.string(),
  password: z.string(),
  pathname: z.string().regex(/^\/?\d*$/, 'the path may only be a database number'),
});

export interface RedisEndpoint {
  host: string;
  port: number;
  tls: boolean;
  db: number;
  /** Credentials written in the URL, which win over the identity's (an operator's explicit choice). */
  username?: string;
  password?: string;
}

/** cfg.redis.url taken apart; the password never appears in an error. */
export function redisEndpoint(cfg: Config): RedisEndpoint {
  let url: URL;
  try {
    url = new URL(cfg.redis.url);
  } catch {
    throw new RedisUrlError('FERRY_REDIS_URL is not a URL', { hint: 'e.g. rediss://10.0.0.1:16379' });
  }
  const { protocol, hostname, port: p, username, password, pathname } = url;
  const parsed = UrlSchema.safeParse({ protocol, hostname, port: p, username, password, pathname });
  if (!parsed.success) {
    throw new RedisUrlError(`FERRY_REDIS_URL: ${parsed.error.issues[0]?.message ?? 'invalid'}`, {
      hint: 'e.g. rediss://agent:PASSWORD@10.0.0.1:16379',
    });
  }
  const u = parsed.data;
  const port = u.port === '' ? 6379 : Number(u.port);
  if (port < 1 || port > 65535) throw new RedisUrlError(`FERRY_REDIS_URL: port ${port} is out of range`);
  // An IPv6 literal comes bracketed from URL; net.connect wants it bare.
  const host = u.hostname.replace(/^\[(.*)\]$/, '$1');
  return {
    host,
    port,
    tls: u.protocol === 'rediss:',
    db: Number(u.pathname.replace('/', '') || 0),
    ...(u.username ? { username: decodeURIComponent(u.username) } : {}),
    ...(u.password ? { password: decodeURIComponent(u.password) } : {}),
  };
}

/**
 * The connection part of a client's options. Security off: the URL as it is (plaintext on
 * loopback by default). On: TLS whatever the URL's scheme says (the server takes nothing else),
 * checked against the cluster CA, with `identity`'s certificate (default: the process's) and its
 * role's ACL user and password.
 */
export function redisConnectOptions(cfg: Config, identity?: IdentityBundle): RedisOptions {
  const endpoint = redisEndpoint(cfg);
  const base: RedisOptions = { ...address(cfg, endpoint), db: endpoint.db };
  if (!cfg.security.enabled) {
    return {
      ...base,
      ...(endpoint.tls ? { tls: {} } : {}),
      ...(endpoint.username ? { username: endpoint.username } : {}),
      ...(endpoint.password ? { password: endpoint.password } : {}),
    };
  }
  const id = identity ?? processIdentity(cfg);
  const tls = { ca: id.ca, cert: id.cert, key: id.key };
  const username = endpoint.username ?? id.credentials.redis.user;
  const password = endpoint.password ?? id.credentials.redis.password;
  return {
    ...base,
    tls,
    username,
    password,
    // Sentinels secured as the data nodes are: TLS and the same ACL user.
    ...(cfg.redis.sentinels
      ? {
          enableTLSForSentinelMode: true,
          sentinelTLS: tls,
          sentinelUsername: username,
          sentinelPassword: password,
        }
      : {}),
  };
}

/**
 * One address (the URL's), or the Sentinels to ask which node is the primary now: a failover then
 * moves ferry's clients to the promoted replica by themselves (docs/redis.md).
 */
function address(cfg: Config, endpoint: RedisEndpoint): RedisOptions {
  if (!cfg.redis.sentinels) return { host: endpoint.host, port: endpoint.port };
  return {
    name: cfg.redis.sentinelMaster,
    sentinels: cfg.redis.sentinels.map((s) => {
      const [host, port] = s.split(/:(?=\d+$)/) as [string, string];
      return { host, port: Number(port) };
    }),
  };
}

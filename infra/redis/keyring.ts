// The keyrings every host shares through Redis, so that a rotation reaches hosts on other machines
// (each with its own state dir) without copying files:
//
//   ferry:{keyring}:cluster   hash   the cluster secrets that sign migration cookies
//   ferry:{keyring}:codec     hash   the AES-256-GCM keys of the Temporal payload codec
//
// Field: the key id (8 hex digits, random); value: {"key": base64 of 32 bytes, "createdAt": ms}.
// The newest key (greatest createdAt) is the current one: new cookies and payloads use it, older
// ones only verify or decrypt (docs/keys.md). Access for the ACLs: agents and controllers read
// (HGETALL); the operator also writes (EVALSHA/EVAL of scripts/keyring-add-1.lua). The hash tag
// keeps both rings on one Redis Cluster slot.
import { randomBytes } from 'node:crypto';
import type { Redis } from 'ioredis';
import { z } from 'zod';
import { FerryError } from '../../errors/ferry-error.ts';
import { loadScript } from './scripts.ts';

export const KEYRING_KEYS = {
  cluster: 'ferry:{keyring}:cluster',
  codec: 'ferry:{keyring}:codec',
} as const;
export type RingName = keyof typeof KEYRING_KEYS;
export const RING_NAMES = Object.keys(KEYRING_KEYS) as RingName[];

/** AES-256 and HMAC-SHA256 both want 32 bytes. */
export const KEYRING_KEY_BYTES = 32;
/** How stale a process's copy of a ring may be: a rotation reaches every host within this. */
export const KEYRING_REFRESH_MS = 5_000;

export const KeyIdSchema = z.string().regex(/^[0-9a-f]{8}$/, 'must be a key id: 8 hex digits');

export interface RingKey {
  id: string;
  key: Buffer;
  /** Redis's clock when the key was added (ms); the next key's createdAt is when this one retired. */
  createdAt: number;
}

export interface RingSnapshot {
  ring: RingName;
  /** Oldest first; the last is the current key. */
  keys: readonly RingKey[];
  current: RingKey;
}

export class KeyringError extends FerryError {
  readonly code = 'KEYRING_UNAVAILABLE';
}

const EntrySchema = z.strictObject({
  key: z
    .base64()
    .transform((b64) => Buffer.from(b64, 'base64'))
    .refine((key) => key.length === KEYRING_KEY_BYTES, `must be ${KEYRING_KEY_BYTES} bytes`),
  createdAt: z.number().int().positive(),
});

/** The ring's keys as Redis holds them, oldest first; a malformed entry is refused, not skipped. */
export async function readRing(redis: Redis, ring: RingName): Promise<RingKey[]> {
  const raw = await redis.hgetall(KEYRING_KEYS[ring]);
  const keys = Object.entries(raw).map(([id, value]) => parseEntry(ring, id, value));
  return keys.sort(byAge);
}

function parseEntry(ring: RingName, id: string, value: string): RingKey {
  let json: unknown;
  try {
    json = JSON.parse(value);
  } catch {
    json = undefined;
  }
  const entry = EntrySchema.safeParse(json);
  if (!KeyIdSchema.safeParse(id).success || !entry.success)
    throw new KeyringError(`the ${ring} keyring in Redis (${KEYRING_KEYS[ring]}) has a malformed key ${id}`, {
      hint: 'a key is only ever added by `ferry secret rotate`; restore the ring from a backup of Redis',
    });
  return { id, ...entry.data };
}

function byAge(a: RingKey, b: RingKey): number {
  return a.createdAt - b.createdAt || a.id.localeCompare(b.id);
}

/**
 * Adds a fresh random key as the ring's current one ('rotate'), or the first key of an empty ring
 * ('init': undefined if the ring has keys already, so racing processes agree on one).
 */
export async function addKey(
  redis: Redis,
  ring: RingName,
  mode: 'rotate' | 'init',
): Promise<RingKey | undefined> {
  const add = loadScript(redis, 'keyring-add');
  for (;;) {
    const id = randomBytes(4).toString('hex');
    const key = randomBytes(KEYRING_KEY_BYTES);
    const [outcome, , createdAt] = (await add([KEYRING_KEYS[ring]], [id, key.toString('base64'), mode])) as [
      'added' | 'exists' | 'taken',
      string?,
      string?,
    ];
    if (outcome === 'exists') return undefined;
    if (outcome === 'added') return { id, key, createdAt: Number(createdAt) };
    // 'taken': one chance in 4 billion per existing key; draw another id.
  }
}

/**
 * Gives each empty ring its first key: for `ferry stack up` (the admin identity), so that agents,
 * which may only read the rings, find keys on a new cluster. Idempotent.
 */
export async function ensureKeyrings(redis: Redis): Promise<RingName[]> {
  const made: RingName[] = [];
  for (const ring of RING_NAMES) if (await addKey(redis, ring, 'init')) made.push(ring);
  return made;
}

/** How a reader reaches Redis: through a client it shares, or one connection per read. */
export type RedisAccess = <T>(use: (redis: Redis) => Promise<T>) => Promise<T>;

export function sharedRedis(redis: Redis): RedisAccess {
  return (use) => use(redis);
}

/**
 * A connection opened for each read and closed after it: for CLI commands, whose process must end
 * when they are done, and which read a ring once or twice.
 */
export function onDemandRedis(connect: () => Redis): RedisAccess {
  return async (use) => {
    const redis = connect();
    try {
      return await use(redis);
    } finally {
      redis.disconnect();
    }
  };
}

export interface KeyringCacheOptions {
  refreshMs?: number;
  now?: () => number;
  /** Make the first key of an empty ring (the operator, or any process when ACLs are off). */
  create?: boolean;
}

/**
 * A process's copy of the rings, read again at most every refreshMs, or at once when asked for a
 * key id it does not know (a host that rotated a moment ago). Keys are never forgotten while the
 * process runs: a Redis that lost its data does not take with it the keys running hosts use.
 */
export class KeyringCache {
  private readonly known = new Map<RingName, Map<string, RingKey>>();
  private readonly readAt = new Map<RingName, number>();
  private readonly reading = new Map<RingName, Promise<void>>();
  private readonly refreshMs: number;
  private readonly now: () => number;

  constructor(
    private readonly access: RedisAccess,
    private readonly opts: KeyringCacheOptions = {},
  ) {
    this.refreshMs = opts.refreshMs ?? KEYRING_REFRESH_MS;
    this.now = opts.now ?? Date.now;
  }

  /** The ring, fresh enough, and holding `need` if Redis has it. */
  async snapshot(ring: RingName, need?: string): Promise<RingSnapshot> {
    const keys = this.known.get(ring);
    const age = this.now() - (this.readAt.get(ring) ?? -Infinity);
    const stale = age >= this.refreshMs || keys === undefined || keys.size === 0;
    const missing = need !== undefined && !keys?.has(need);
    if (stale || missing) {
      try {
        await this.refresh(ring);
      } catch (err) {
        // Redis down: the keys this process knows still serve, until one it lacks is asked for.
        if (missing || keys === undefined || keys.size === 0) throw unreadable(ring, err);
      }
    }
    const merged = [...(this.known.get(ring)?.values() ?? [])].sort(byAge);
    const current = merged.at(-1);
    if (current === undefined)
      throw new KeyringError(`the ${ring} keyring in Redis (${KEYRING_KEYS[ring]}) is empty`, {
        hint: `the operator makes its first key: \`ferry secret rotate --${ring}\``,
      });
    return { ring, keys: merged, current };
  }

  private refresh(ring: RingName): Promise<void> {
    let pending = this.reading.get(ring);
    if (pending === undefined) {
      pending = this.read(ring).finally(() => this.reading.delete(ring));
      this.reading.set(ring, pending);
    }
    return pending;
  }

  private async read(ring: RingName): Promise<void> {
    // Set first: a Redis that is down is asked again after refreshMs, not at every payload.
    this.readAt.set(ring, this.now());
    const keys = await this.access(async (redis) => {
      const found = await readRing(redis, ring);
      if (found.length > 0 || !this.opts.create || (this.known.get(ring)?.size ?? 0) > 0) return found;
      await addKey(redis, ring, 'init').catch((err: unknown) => {
        throw new KeyringError(
          `the ${ring} keyring in Redis is empty and this process may not make its first key`,
          {
            cause: err,
            hint: `the operator makes it: \`ferry secret rotate --${ring}\``,
          },
        );
      });
      return readRing(redis, ring);
    });
    const known = this.known.get(ring) ?? new Map<string, RingKey>();
    for (const key of keys) known.set(key.id, key);
    this.known.set(ring, known);
  }
}

function unreadable(ring: RingName, err: unknown): FerryError {
  if (err instanceof FerryError) return err;
  return new KeyringError(
    `cannot read the ${ring} keyring from Redis: ${String((err as Error)?.message ?? err)}`,
    {
      cause: err,
      hint: 'check that Redis is up (`ferry stack status`) and that this identity may read ferry:{keyring}:*',
    },
  );
}

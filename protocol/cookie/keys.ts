// Which secret signs a cookie and which verify it. With the keyring on, the cluster's secrets are
// the keys of Redis's cluster ring (infra/redis/keyring.ts), each with an id the cookie carries:
// the newest signs, an older one still verifies the cookies signed before the rotation until they
// have expired, and is refused after that. With it off, the one secret of cluster.secret (or
// FERRY_CLUSTER_SECRET) signs and verifies, and its cookies carry no id, as before key ids.
import { KEYRING_REFRESH_MS, type RingSnapshot } from '../../infra/redis/keyring.ts';
import { CookieError } from './errors.ts';
import { DEFAULT_COOKIE_TTL_MS } from './wire.ts';

/** The id of the one legacy secret: cookies signed with it carry no id on the wire. */
export const LEGACY_KEY_ID = '';

/**
 * How long a replaced key still verifies: a cookie's life, after the last one a host may sign with
 * it (a host's copy of the ring is up to KEYRING_REFRESH_MS old when the rotation happens).
 */
export const RETIRED_KEY_GRACE_MS = DEFAULT_COOKIE_TTL_MS + KEYRING_REFRESH_MS;

export interface CookieKey {
  id: string;
  secret: Buffer;
  /** When the key was made (ms); the next key's createdAt is when this one was replaced. */
  createdAt: number;
}

export class CookieKeyring {
  private readonly keys: readonly CookieKey[];

  /** `keys` oldest first: the last one signs. */
  constructor(
    keys: readonly CookieKey[],
    private readonly graceMs = RETIRED_KEY_GRACE_MS,
  ) {
    if (keys.length === 0) throw new RangeError('a cookie keyring needs at least one key');
    this.keys = [...keys];
  }

  /** The cluster.secret file's secret alone (the keyring off). */
  static legacy(secret: Buffer): CookieKeyring {
    return new CookieKeyring([{ id: LEGACY_KEY_ID, secret, createdAt: 0 }]);
  }

  static fromRing(ring: RingSnapshot, graceMs?: number): CookieKeyring {
    return new CookieKeyring(
      ring.keys.map((k) => ({ id: k.id, secret: k.key, createdAt: k.createdAt })),
      graceMs,
    );
  }

  get signing(): CookieKey {
    return this.keys.at(-1)!;
  }

  has(id: string): boolean {
    return this.keys.some((k) => k.id === id);
  }

  /** The secret that verifies a cookie signed under `id`, if that key still may. */
  verifying(id: string, now: Date): Buffer {
    const at = this.keys.findIndex((k) => k.id === id);
    const key = this.keys[at];
    if (key === undefined)
      throw new CookieError(
        'COOKIE_UNKNOWN_KEY',
        id === LEGACY_KEY_ID
          ? 'the cookie carries no key id: it was signed with a cluster.secret file, and this host signs with the keyring (FERRY_KEYRING): run every host with the same setting'
          : `the cookie was signed under key ${id}, which this host's cluster keyring does not have: it was forged, or signed with another cluster's keys`,
      );
    const next = this.keys[at + 1];
    if (next !== undefined && now.getTime() >= next.createdAt + this.graceMs)
      throw new CookieError(
        'COOKIE_KEY_RETIRED',
        `the cookie was signed under key ${id}, replaced at ${new Date(next.createdAt).toISOString()} and refused since ${new Date(next.createdAt + this.graceMs).toISOString()}: start the migration again`,
      );
    return key.secret;
  }
}

/** What signs and verifies: a keyring, or a single secret (the keyring off, and tests). */
export type CookieSecret = Buffer | CookieKeyring;

export function asKeyring(secret: CookieSecret): CookieKeyring {
  return secret instanceof CookieKeyring ? secret : CookieKeyring.legacy(secret);
}

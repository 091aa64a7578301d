// Where a host gets the keys its cookies are signed and verified with: the Redis keyring's cluster
// ring when the keyring is on (every host sees a rotation within KEYRING_REFRESH_MS), else the one
// cluster secret of the state dir or FERRY_CLUSTER_SECRET, as before key ids.
import type { Config } from '../../infra/config.ts';
import type { KeyringCache } from '../../infra/redis/keyring.ts';
import { CookieKeyring } from './keys.ts';
import { loadClusterSecret } from './secret.ts';
import { splitWire } from './wire.ts';

export interface CookieKeySource {
  /** The keys as of now; read again first if `needId` (a cookie's key id) is not among them. */
  keyring(needId?: string): Promise<CookieKeyring>;
}

export function cookieKeySource(cfg: Config, keyrings: KeyringCache): CookieKeySource {
  if (!cfg.keyring.enabled) {
    const legacy = CookieKeyring.legacy(loadClusterSecret(cfg));
    return { keyring: () => Promise.resolve(legacy) };
  }
  return {
    async keyring(needId) {
      const ring = await keyrings.snapshot('cluster', needId === '' ? undefined : needId);
      return CookieKeyring.fromRing(ring);
    },
  };
}

/** The key id a cookie names ('' for the legacy secret), or undefined if it is malformed. */
export function cookieKeyId(wire: string): string | undefined {
  return splitWire(wire)?.keyId;
}

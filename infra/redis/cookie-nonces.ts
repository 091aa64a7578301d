// Replay protection for migration cookies: each cookie carries a nonce, and a nonce is good for one
// scope (one phase of one migration on one host). The same scope may present it again, because
// Temporal retries an activity whose result was lost; any other scope presenting it is a replay.
import type { Redis } from 'ioredis';

export type NonceUse = 'fresh' | 'same-scope' | 'replayed';

/** Where used nonces live; tests pass their own prefix. */
export class CookieNonces {
  constructor(
    private readonly redis: Redis,
    private readonly prefix = 'ferry',
  ) {}

  private key(nonce: string): string {
    return `${this.prefix}:nonce:${nonce}`;
  }

  /**
   * Records the nonce as used by `scope` (e.g. `${migrationId}:prepare@hostB`) for ttlMs: 'fresh'
   * the first time, 'same-scope' when that scope presents it again, 'replayed' when another scope
   * used it. One SET NX GET, so two scopes racing cannot both see it fresh. A retry does not extend
   * the TTL: the nonce stays spent as long as the cookie it came in is valid, no longer.
   */
  async consume(nonce: string, scope: string, ttlMs: number): Promise<NonceUse> {
    const previous = (await this.redis.call('SET', this.key(nonce), scope, 'NX', 'PX', ttlMs, 'GET')) as
      string | null;
    if (previous === null) return 'fresh';
    return previous === scope ? 'same-scope' : 'replayed';
  }
}

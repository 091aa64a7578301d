// Replay protection for migration cookies: each cookie carries a nonce, and a nonce is good for one
// scope (one phase of one migration on one host). The same scope may present it again, because
// Temporal retries an activity whose result was lost; any other scope presenting it is a replay.
//
// Used nonces live in Redis, so a Redis that lost its data forgets them: a cookie issued before
// the loss would be fresh again. Cookies therefore carry the epoch of Redis they were issued in
// (hosts/agent/redis-epoch.ts), and a nonce is only spent in that same epoch; a cookie of an
// earlier epoch is refused as stale.
import type { Redis } from 'ioredis';
import { currentEpoch } from './epoch.ts';
import { loadScript, type ScriptRunner } from './scripts.ts';

export type NonceUse = 'fresh' | 'same-scope' | 'replayed' | 'stale';

/** Where used nonces live; tests pass their own prefix. */
export class CookieNonces {
  private readonly consumeScript: ScriptRunner;

  constructor(
    private readonly redis: Redis,
    private readonly prefix = 'ferry',
  ) {
    this.consumeScript = loadScript(redis, 'nonce-consume');
  }

  // On the epoch's hash tag: nonce-consume reads the epoch with the nonce, and a Redis Cluster shard
  // that lost its data loses both, so a stale cookie is still told apart (docs/redis.md).
  private key(nonce: string): string {
    return `${this.prefix}:{epoch}:nonce:${nonce}`;
  }

  /** The epoch key (`ferry:{epoch}` for the agents' prefix), on the nonces' slot. */
  get epochKey(): string {
    return `${this.prefix}:{epoch}`;
  }

  /**
   * The epoch a cookie issued now belongs to; set here if Redis has none (it just lost its data
   * and no agent's heartbeat has noticed yet: the agents then find the new one and know).
   */
  currentEpoch(): Promise<string> {
    return currentEpoch(this.redis, this.epochKey);
  }

  /**
   * Records the nonce as used by `scope` (e.g. `${migrationId}:prepare@hostB`) for ttlMs: 'fresh'
   * the first time, 'same-scope' when that scope presents it again, 'replayed' when another scope
   * used it, 'stale' (nothing recorded) when the cookie's `epoch` is not Redis's present one. One
   * script, so two scopes racing cannot both see it fresh. A retry does not extend the TTL: the
   * nonce stays spent as long as the cookie it came in is valid, no longer.
   */
  async consume(nonce: string, scope: string, ttlMs: number, epoch: string): Promise<NonceUse> {
    const [use] = (await this.consumeScript([this.key(nonce), this.epochKey], [scope, ttlMs, epoch])) as [
      NonceUse,
      string?,
    ];
    return use;
  }
}

// How many connections one peer may hold open on the destination's listener at once. A host runs a
// couple of migrations into another at a time (protocol/cluster.ts: 2 per destination); a peer far
// above that is broken or hostile, and each connection it holds costs sockets and buffers here.

/** Connections per peer host: several times any migration limit, far below what hurts an agent. */
export const DEFAULT_MAX_CONNECTIONS_PER_PEER = 16;

export class PeerLimit {
  private readonly open = new Map<string, number>();

  constructor(readonly max: number) {
    if (!Number.isInteger(max) || max < 1)
      throw new RangeError('the per-peer limit must be a whole number ≥ 1');
  }

  /** Takes a place for `peer`; the returned release (idempotent) gives it back, null if full. */
  acquire(peer: string): (() => void) | null {
    const n = this.open.get(peer) ?? 0;
    if (n >= this.max) return null;
    this.open.set(peer, n + 1);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const left = (this.open.get(peer) ?? 1) - 1;
      if (left === 0) this.open.delete(peer);
      else this.open.set(peer, left);
    };
  }

  count(peer: string): number {
    return this.open.get(peer) ?? 0;
  }
}

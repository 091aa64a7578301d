// A token bucket in the data path. It holds at most the chunk it is releasing: the next chunk is
// not accepted until this one is out, so a slow rate stops the reader and, through the socket,
// the guest (backpressure), and the rate can change at any moment, taking effect at once.
import { Transform } from 'node:stream';
import type { TransformCallback } from 'node:stream';

/** Below this, a chunk waits for more tokens rather than going out in slivers. */
const QUANTUM = 16 * 1024;
/** The bucket holds this much time's worth of bytes: short bursts, no long catch-up spurts. */
const BURST_SECONDS = 0.05;

export class Throttle extends Transform {
  private rate: number | null = null;
  private tokens = 0;
  private last = 0;
  private timer: NodeJS.Timeout | null = null;
  private pending: { chunk: Buffer; at: number; callback: TransformCallback } | null = null;

  constructor(bytesPerSecond?: number | null) {
    super();
    this.setRate(bytesPerSecond ?? null);
  }

  /** null or Infinity: unlimited. */
  get bytesPerSecond(): number | null {
    return this.rate;
  }

  setRate(bytesPerSecond: number | null): void {
    if (bytesPerSecond !== null && !(bytesPerSecond > 0)) {
      throw new RangeError(`bandwidth must be positive bytes per second, got ${bytesPerSecond}`);
    }
    this.refill();
    this.rate = bytesPerSecond === null || bytesPerSecond === Infinity ? null : bytesPerSecond;
    this.tokens = Math.min(this.tokens, this.capacity());
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = null;
    }
    if (this.pending) this.release();
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    if (this.rate === null) {
      callback(null, chunk);
      return;
    }
    this.pending = { chunk, at: 0, callback };
    this.release();
  }

  override _destroy(err: Error | null, callback: (error?: Error | null) => void): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.pending = null;
    callback(err);
  }

  private release(): void {
    const p = this.pending;
    if (!p) return;
    this.refill();
    while (p.at < p.chunk.length) {
      const remaining = p.chunk.length - p.at;
      const n = this.rate === null ? remaining : Math.min(remaining, Math.floor(this.tokens));
      if (n < Math.min(remaining, QUANTUM)) {
        const waitMs = ((Math.min(remaining, QUANTUM) - this.tokens) / this.rate!) * 1000;
        this.timer = setTimeout(
          () => {
            this.timer = null;
            this.release();
          },
          Math.max(1, Math.ceil(waitMs)),
        );
        return;
      }
      this.push(p.chunk.subarray(p.at, p.at + n));
      p.at += n;
      if (this.rate !== null) this.tokens -= n;
    }
    this.pending = null;
    p.callback();
  }

  private refill(): void {
    const now = performance.now();
    if (this.rate !== null)
      this.tokens = Math.min(this.capacity(), this.tokens + ((now - this.last) / 1000) * this.rate);
    this.last = now;
  }

  private capacity(): number {
    return this.rate === null ? 0 : Math.max(QUANTUM, this.rate * BURST_SECONDS);
  }
}

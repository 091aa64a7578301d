// The arithmetic of precopy convergence, as QEMU's migration_update_counters does it every
// BUFFER_DELAY: bandwidth measured over the last window, the threshold of bytes that can still be
// sent within downtime-limit, the expected downtime, and the rate limit of max-bandwidth.

/** QEMU's BUFFER_DELAY: bandwidth is measured and the rate limit reset every 100 ms. */
export const BUFFER_DELAY_MS = 100;

/** Bytes per millisecond over a window (0 for an empty window). */
export function bandwidth(bytes: number, ms: number): number {
  return ms > 0 ? bytes / ms : 0;
}

/** Remaining bytes that can be sent within the downtime limit at `bytesPerMs`. */
export function thresholdBytes(bytesPerMs: number, downtimeLimitMs: number): number {
  return bytesPerMs * downtimeLimitMs;
}

/** Remaining bytes over bandwidth; before any measurement QEMU reports the limit itself. */
export function expectedDowntimeMs(
  remainingBytes: number,
  bytesPerMs: number,
  downtimeLimitMs: number,
): number {
  if (bytesPerMs <= 0) return downtimeLimitMs;
  return Math.round(remainingBytes / bytesPerMs);
}

/** Megabits per second, as query-migrate's ram.mbps. */
export function mbps(bytes: number, ms: number): number {
  return ms > 0 ? (bytes * 8) / (ms / 1000) / 1e6 : 0;
}

/**
 * Whether to stop the guest and switch over: the pending bytes fit in the downtime budget, and
 * with switchover-ack the destination has said yes (migration_can_switchover).
 */
export function shouldSwitchover(input: {
  pendingBytes: number;
  thresholdBytes: number;
  ackNeeded: boolean;
  acked: boolean;
}): boolean {
  if (input.ackNeeded && !input.acked) return false;
  return input.pendingBytes <= input.thresholdBytes;
}

/**
 * max-bandwidth as QEMU applies it: at most max/10 bytes per 100 ms window, then wait for the
 * next window. 0, or `unlimited` (the final stage), means no limit.
 */
export class RateLimiter {
  private windowStart: number;
  private used = 0;
  unlimited = false;

  constructor(
    public maxBytesPerSecond: number,
    now: number,
  ) {
    this.windowStart = now;
  }

  /** Bytes still allowed in the current window. */
  budget(now: number): number {
    this.roll(now);
    if (this.unlimited || this.maxBytesPerSecond <= 0) return Number.POSITIVE_INFINITY;
    return Math.max(0, (this.maxBytesPerSecond * BUFFER_DELAY_MS) / 1000 - this.used);
  }

  consume(bytes: number): void {
    this.used += bytes;
  }

  /** How long until the next window opens. */
  waitMs(now: number): number {
    return Math.max(0, this.windowStart + BUFFER_DELAY_MS - now);
  }

  private roll(now: number): void {
    if (now - this.windowStart >= BUFFER_DELAY_MS) {
      this.windowStart = now;
      this.used = 0;
    }
  }
}

// The counters of an outgoing migration and the query-migrate answer built from them, with the
// bandwidth measurement QEMU's migration_update_counters makes every BUFFER_DELAY.
import { PAGE_SIZE } from '../savevm/constants.ts';
import { BUFFER_DELAY_MS, bandwidth, expectedDowntimeMs, mbps, thresholdBytes } from './convergence.ts';
import type { MigrationStatus } from './migration-status.ts';

export class OutgoingStats {
  readonly startTime = performance.now();
  setupTime = 0;
  totalTime = 0;
  downtime = 0;
  /** Bytes handed to the socket (the whole stream, headers included). */
  transferred = 0;
  normal = 0;
  duplicate = 0;
  dirtySyncCount = 0;
  dirtyPagesRate = 0;
  /** Last measured bandwidth in bytes/ms, and what follows from it. */
  bandwidth = 0;
  threshold = 0;
  expectedDowntime = 0;
  mbps = 0;
  pagesPerSecond = 0;
  private window = { start: this.startTime, bytes: 0, pages: 0 };
  private dirtyPeriod = { start: this.startTime, pages: 0 };

  get pagesSent(): number {
    return this.normal + this.duplicate;
  }

  /** Closes the measurement window once BUFFER_DELAY has passed. */
  update(now: number, remainingBytes: number, downtimeLimitMs: number): void {
    const elapsed = now - this.window.start;
    if (elapsed < BUFFER_DELAY_MS) return;
    const bytes = this.transferred - this.window.bytes;
    this.bandwidth = bandwidth(bytes, elapsed);
    this.threshold = thresholdBytes(this.bandwidth, downtimeLimitMs);
    this.expectedDowntime = expectedDowntimeMs(remainingBytes, this.bandwidth, downtimeLimitMs);
    this.mbps = mbps(bytes, elapsed);
    this.pagesPerSecond = ((this.pagesSent - this.window.pages) * 1000) / elapsed;
    this.window = { start: now, bytes: this.transferred, pages: this.pagesSent };
  }

  /** A dirty bitmap sync found `newlyDirty` pages; the rate is averaged over at least a second. */
  synced(now: number, newlyDirty: number): void {
    this.dirtySyncCount++;
    this.dirtyPeriod.pages += newlyDirty;
    const elapsed = now - this.dirtyPeriod.start;
    if (elapsed >= 1000) {
      this.dirtyPagesRate = Math.round((this.dirtyPeriod.pages * 1000) / elapsed);
      this.dirtyPeriod = { start: now, pages: 0 };
    }
  }

  /** query-migrate, with the members QEMU 7.2 shows in each status. */
  info(status: MigrationStatus, remainingBytes: number, totalBytes: number, errorDesc?: string): object {
    switch (status) {
      case 'none':
        return {};
      case 'setup':
      case 'cancelled':
        return { status };
      case 'failed':
        return errorDesc === undefined ? { status } : { status, 'error-desc': errorDesc };
      case 'completed':
        return {
          status,
          'setup-time': Math.round(this.setupTime),
          'total-time': Math.round(this.totalTime),
          downtime: Math.round(this.downtime),
          ram: this.ram(0, totalBytes),
        };
      default:
        return {
          status,
          'setup-time': Math.round(this.setupTime),
          'total-time': Math.round(performance.now() - this.startTime),
          'expected-downtime': this.expectedDowntime,
          ram: this.ram(remainingBytes, totalBytes),
        };
    }
  }

  private ram(remaining: number, total: number): object {
    return {
      transferred: this.transferred,
      remaining,
      total,
      duplicate: this.duplicate,
      skipped: 0,
      normal: this.normal,
      'normal-bytes': this.normal * PAGE_SIZE,
      'dirty-pages-rate': this.dirtyPagesRate,
      mbps: Math.round(this.mbps * 1000) / 1000,
      'dirty-sync-count': this.dirtySyncCount,
      'postcopy-requests': 0,
      'multifd-bytes': 0,
      'pages-per-second': Math.round(this.pagesPerSecond),
      'page-size': PAGE_SIZE,
    };
  }
}

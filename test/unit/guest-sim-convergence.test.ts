import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  RateLimiter,
  bandwidth,
  expectedDowntimeMs,
  mbps,
  shouldSwitchover,
  thresholdBytes,
} from '../../hosts/guest-sim/convergence.ts';
import { OutgoingStats } from '../../hosts/guest-sim/outgoing-stats.ts';

void test('guest-sim convergence - threshold and expected downtime follow the measured bandwidth', () => {
  const bw = bandwidth(32 * 1024 * 1024, 1000); // 32 MiB/s in bytes/ms
  assert.equal(thresholdBytes(bw, 300), 0.3 * 32 * 1024 * 1024);
  assert.equal(expectedDowntimeMs(16 * 1024 * 1024, bw, 300), 500);
  assert.equal(expectedDowntimeMs(1, 0, 300), 300, 'before any measurement: the limit itself');
  assert.equal(bandwidth(100, 0), 0);
  assert.equal(mbps(1_000_000, 1000), 8);
});

void test('guest-sim convergence - switchover decisions as a table', () => {
  const rows = [
    { pendingBytes: 0, thresholdBytes: 0, ackNeeded: false, acked: false, want: true },
    { pendingBytes: 100, thresholdBytes: 99, ackNeeded: false, acked: false, want: false },
    { pendingBytes: 99, thresholdBytes: 100, ackNeeded: false, acked: false, want: true },
    { pendingBytes: 0, thresholdBytes: 100, ackNeeded: true, acked: false, want: false },
    { pendingBytes: 0, thresholdBytes: 100, ackNeeded: true, acked: true, want: true },
    { pendingBytes: 200, thresholdBytes: 100, ackNeeded: true, acked: true, want: false },
  ];
  for (const { want, ...input } of rows) assert.equal(shouldSwitchover(input), want, JSON.stringify(input));
});

void test('guest-sim convergence - the rate limiter allows max/10 per 100 ms window', () => {
  const limiter = new RateLimiter(10_000, 0);
  assert.equal(limiter.budget(0), 1000);
  limiter.consume(1000);
  assert.equal(limiter.budget(50), 0);
  assert.equal(limiter.waitMs(50), 50);
  assert.equal(limiter.budget(100), 1000, 'a new window');
  limiter.maxBytesPerSecond = 0;
  assert.equal(limiter.budget(150), Number.POSITIVE_INFINITY, '0 is unlimited');
  limiter.maxBytesPerSecond = 10;
  limiter.unlimited = true;
  assert.equal(limiter.budget(150), Number.POSITIVE_INFINITY, 'the final stage is unlimited');
});

void test('guest-sim convergence - stats measure per window and shape query-migrate per status', () => {
  const stats = new OutgoingStats();
  const t0 = stats.startTime;
  stats.transferred = 1_000_000;
  stats.normal = 200;
  stats.update(t0 + 50, 4096, 300);
  assert.equal(stats.bandwidth, 0, 'no measurement before 100 ms');
  // t0 + 200 - t0 is 200 only up to float rounding: compare rounded.
  stats.update(t0 + 200, 40960, 300);
  assert.equal(Math.round(stats.bandwidth), 5000);
  assert.equal(Math.round(stats.threshold), 1_500_000);
  assert.equal(Math.round(stats.pagesPerSecond), 1000);
  stats.synced(t0 + 1500, 600);
  assert.equal(stats.dirtySyncCount, 1);
  assert.equal(stats.dirtyPagesRate, 400);
  assert.deepEqual(stats.info('none', 0, 0), {});
  assert.deepEqual(stats.info('failed', 0, 0, 'boom'), { status: 'failed', 'error-desc': 'boom' });
  const active = stats.info('active', 4096, 8192) as Record<string, unknown>;
  assert.ok('expected-downtime' in active && !('downtime' in active));
  const done = stats.info('completed', 0, 8192) as { ram: { remaining: number; total: number } };
  assert.ok('downtime' in done && done.ram.remaining === 0 && done.ram.total === 8192);
});

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { Throttle } from '../../hosts/tunnel/throttle.ts';

const KiB = 1024;

function source(chunks: number, size: number): Readable {
  let n = 0;
  return new Readable({
    read() {
      this.push(n++ < chunks ? Buffer.alloc(size, n) : null);
    },
  });
}

test('tunnel throttle - holds the rate it is given', async () => {
  const throttle = new Throttle(1024 * KiB);
  let bytes = 0;
  const started = performance.now();
  await pipeline(
    source(32, 16 * KiB),
    throttle,
    new Writable({ write: (c: Buffer, _e, cb) => ((bytes += c.length), cb()) }),
  );
  const seconds = (performance.now() - started) / 1000;
  assert.equal(bytes, 512 * KiB);
  // 512 KiB at 1 MiB/s, less the initial burst of 50 ms' worth.
  assert.ok(seconds >= 0.4, `took ${seconds.toFixed(3)} s`);
});

test('tunnel throttle - a new rate applies to the chunk already waiting', async () => {
  const throttle = new Throttle(1 * KiB); // 1 KiB/s: a 64 KiB chunk would take a minute
  const out: Buffer[] = [];
  const done = pipeline(
    source(1, 64 * KiB),
    throttle,
    new Writable({ write: (c: Buffer, _e, cb) => (out.push(c), cb()) }),
  );
  setTimeout(() => throttle.setRate(null), 50);
  const started = performance.now();
  await done;
  assert.ok(performance.now() - started < 5_000);
  assert.equal(Buffer.concat(out).length, 64 * KiB);
  assert.equal(throttle.bytesPerSecond, null);
});

test('tunnel throttle - backpressure: accepts no more than one chunk beyond the stream buffers', async () => {
  const throttle = new Throttle(64 * KiB);
  let read = 0;
  const src = new Readable({
    highWaterMark: 16 * KiB,
    read() {
      read += 16 * KiB;
      this.push(Buffer.alloc(16 * KiB));
    },
  });
  src.pipe(throttle);
  throttle.pause(); // a consumer that takes nothing
  await new Promise((r) => setTimeout(r, 300));
  // Readable + Transform buffers are 16 KiB each by default; unbounded reading would be megabytes.
  assert.ok(read <= 256 * KiB, `read ${read} bytes while the consumer took nothing`);
  src.destroy();
  throttle.destroy();
});

test('tunnel throttle - refuses a rate that is not positive', () => {
  assert.throws(() => new Throttle(0), RangeError);
  assert.throws(() => new Throttle(1000).setRate(-5), RangeError);
});

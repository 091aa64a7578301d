import assert from 'node:assert/strict';
import { test } from 'node:test';
import { PageBitmap } from '../../hosts/guest-sim/bitmap.ts';

void test('guest-sim bitmap - set, clear and count agree, setting twice counts once', () => {
  const b = new PageBitmap(100);
  b.set(3);
  b.set(3);
  b.set(64);
  assert.equal(b.count, 2);
  assert.ok(b.test(3) && b.test(64) && !b.test(4));
  b.clear(3);
  b.clear(3);
  assert.equal(b.count, 1);
});

void test('guest-sim bitmap - nextSet walks across word boundaries and stops at the end', () => {
  const b = new PageBitmap(200);
  for (const p of [0, 31, 32, 63, 64, 150, 199]) b.set(p);
  const seen: number[] = [];
  for (let p = b.nextSet(0); p >= 0; p = b.nextSet(p + 1)) seen.push(p);
  assert.deepEqual(seen, [0, 31, 32, 63, 64, 150, 199]);
  assert.equal(b.nextSet(200), -1);
  assert.equal(b.nextSet(151), 199);
});

void test('guest-sim bitmap - setAll covers exactly the pages, not the padding of the last word', () => {
  const b = new PageBitmap(70);
  b.setAll();
  assert.equal(b.count, 70);
  let n = 0;
  for (let p = b.nextSet(0); p >= 0; p = b.nextSet(p + 1)) n++;
  assert.equal(n, 70);
  b.clearAll();
  assert.equal(b.count, 0);
  assert.equal(b.nextSet(0), -1);
});

void test('guest-sim bitmap - orFrom merges a dirty log and recounts', () => {
  const a = new PageBitmap(96);
  const log = new PageBitmap(96);
  a.set(1);
  log.set(1);
  log.set(95);
  a.orFrom(log);
  assert.equal(a.count, 2);
  assert.ok(a.test(95));
  assert.throws(() => a.orFrom(new PageBitmap(10)), RangeError);
});

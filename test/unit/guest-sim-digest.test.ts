import assert from 'node:assert/strict';
import { test } from 'node:test';
import { GuestMemory } from '../../hosts/guest-sim/memory.ts';
import { PAGE_SIZE } from '../../hosts/savevm/constants.ts';

const states = [{ name: 'cpu', data: Buffer.from([1, 2, 3]) }];

test('guest-sim digest - the same content gives the same digest whatever the bitmaps say', () => {
  const a = new GuestMemory(16 * PAGE_SIZE);
  const b = new GuestMemory(16 * PAGE_SIZE);
  a.store(3, 8, 0, 0xdeadbeef);
  b.load(3, a.ram.subarray(3 * PAGE_SIZE, 4 * PAGE_SIZE), 0);
  // b also touched a page that holds zeros again: still the same content as a's untouched page.
  b.store(7, 0, 0, 1);
  b.store(7, 0, 0, 0);
  assert.ok(b.touched.test(7) && !a.touched.test(7));
  assert.equal(a.digest(states).digest, b.digest(states).digest);
});

test('guest-sim digest - one byte, its page, the RAM size or a device state changes the digest', () => {
  const base = new GuestMemory(16 * PAGE_SIZE);
  base.store(3, 8, 0, 0xdeadbeef);
  const d = base.digest(states).digest;
  const byte = new GuestMemory(16 * PAGE_SIZE);
  byte.store(3, 8, 0, 0xdeadbeee);
  const page = new GuestMemory(16 * PAGE_SIZE);
  page.store(4, 8, 0, 0xdeadbeef);
  const size = new GuestMemory(17 * PAGE_SIZE);
  size.store(3, 8, 0, 0xdeadbeef);
  assert.notEqual(byte.digest(states).digest, d);
  assert.notEqual(page.digest(states).digest, d);
  assert.notEqual(size.digest(states).digest, d);
  assert.notEqual(base.digest([{ name: 'cpu', data: Buffer.from([1, 2, 4]) }]).digest, d);
});

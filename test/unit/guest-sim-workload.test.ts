import assert from 'node:assert/strict';
import { test } from 'node:test';
import { PageBitmap } from '../../hosts/guest-sim/bitmap.ts';
import { Devices } from '../../hosts/guest-sim/devices.ts';
import { GuestMemory } from '../../hosts/guest-sim/memory.ts';
import { Workload } from '../../hosts/guest-sim/workload.ts';

function guest(seed: number, workingSetPages?: number) {
  const memory = new GuestMemory(4 * 1024 * 1024);
  const dirty = new PageBitmap(memory.pages);
  const devices = new Devices(seed);
  const workload = new Workload(memory, dirty, { pagesPerSecond: 1000, workingSetPages });
  return { memory, dirty, devices, workload };
}

void test('guest-sim workload - the same seed gives the same memory, another seed does not', () => {
  const a = guest(42);
  const b = guest(42);
  const c = guest(43);
  for (const g of [a, b, c]) g.workload.store(g.devices.cpu, 500);
  assert.ok(a.memory.ram.equals(b.memory.ram));
  assert.ok(!a.memory.ram.equals(c.memory.ram));
  assert.deepEqual(a.devices.cpu, b.devices.cpu);
});

void test('guest-sim workload - the sequence continues from the cpu state (n then m equals n + m)', () => {
  const split = guest(9);
  const whole = guest(9);
  split.workload.store(split.devices.cpu, 120);
  // A destination that loaded the cpu state carries on where the source stopped.
  const moved = new Devices(0);
  moved.load('cpu', split.devices.save()[1]!.data);
  split.workload.store(moved.cpu, 80);
  whole.workload.store(whole.devices.cpu, 200);
  assert.ok(split.memory.ram.equals(whole.memory.ram));
});

void test('guest-sim workload - stores stay in the working set, are non-zero and mark pages dirty', () => {
  const g = guest(5, 16);
  g.workload.store(g.devices.cpu, 300);
  assert.ok(g.dirty.count > 0 && g.dirty.count <= 16);
  assert.equal(g.dirty.nextSet(16), -1);
  for (let p = g.dirty.nextSet(0); p >= 0; p = g.dirty.nextSet(p + 1)) {
    assert.notEqual(g.memory.pageOrNull(p), null, `page ${p} was written but reads as zero`);
  }
  assert.equal(g.memory.pageOrNull(20), null);
});

void test('guest-sim workload - the rate is kept across slices by carrying fractional credit', () => {
  const g = guest(1);
  let stores = 0;
  for (let i = 0; i < 300; i++) stores += g.workload.run(g.devices.cpu, 3.33); // ~1 s in 3.33 ms slices
  assert.ok(stores >= 998 && stores <= 1000, `${stores} stores at 1000/s over 999 ms`);
  assert.equal(g.devices.cpu.stores, stores);
});

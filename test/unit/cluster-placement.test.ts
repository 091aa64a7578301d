// Placement for drains and rebalances: examples, then properties over random clusters (fast-check).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import {
  loadPct,
  planPlacement,
  planRebalance,
  rankDestinations,
  roomMiB,
  type Capacity,
  type Mover,
} from '../../protocol/placement.ts';

const host = (name: string, memoryMiB: number, usedMiB: number, extra: Partial<Capacity> = {}): Capacity => ({
  name,
  up: true,
  draining: null,
  memoryMiB,
  usedMiB,
  promisedMiB: 0,
  ...extra,
});

test('placement - most room first; never the source, a down, draining or excluded host, or one without room', () => {
  const hosts = [
    host('a', 1024, 0),
    host('b', 1024, 512),
    host('c', 1024, 100, { promisedMiB: 200 }),
    host('d', 4096, 0, { up: false }),
    host('e', 4096, 0, { draining: 'drain-e' }),
    host('f', 128, 100),
    host('g', 2048, 1900),
  ];
  const guest: Mover = { vm: 'vm', memoryMiB: 64, source: 'a' };
  assert.deepEqual(rankDestinations(guest, hosts), ['c', 'b', 'g']);
  assert.deepEqual(rankDestinations(guest, hosts, { exclude: ['c'] }), ['b', 'g']);
  // Rebalance fills a destination only up to the threshold: b (50 %) may take 64 MiB up to 80 %.
  assert.deepEqual(rankDestinations(guest, hosts, { ceilingPct: 80 }), ['c', 'b']);
});

test('placement - a drain plan: biggest guests first, each counted against its host before the next', () => {
  const hosts = [host('src', 1024, 400), host('b', 256, 0), host('c', 200, 0)];
  const guests: Mover[] = [
    { vm: 'small', memoryMiB: 64, source: 'src' },
    { vm: 'big', memoryMiB: 200, source: 'src' },
    { vm: 'mid', memoryMiB: 128, source: 'src' },
    { vm: 'huge', memoryMiB: 300, source: 'src' },
  ];
  assert.deepEqual(planPlacement(guests, hosts), [
    { vm: 'huge', to: null },
    { vm: 'big', to: 'b' },
    { vm: 'mid', to: 'c' },
    { vm: 'small', to: 'c' },
  ]);
});

test('placement - rebalance moves the smallest guest that suffices, and leaves draining hosts to their drain', () => {
  const hosts = [host('hot', 1000, 900), host('cold', 1000, 100), host('drn', 1000, 950, { draining: 'd' })];
  const plan = planRebalance(
    hosts,
    {
      hot: [
        { vm: 'h1', memoryMiB: 500 },
        { vm: 'h2', memoryMiB: 150 },
        { vm: 'h3', memoryMiB: 120 },
        { vm: 'h4', memoryMiB: 50 },
      ],
      drn: [{ vm: 'd1', memoryMiB: 950 }],
    },
    80,
  );
  // hot is 100 MiB over 80 %: h3 (120) is the smallest guest that alone brings it under.
  assert.deepEqual(plan.moves, [{ vm: 'h3', memoryMiB: 120, source: 'hot', to: 'cold' }]);
  assert.deepEqual(plan.over, ['hot']);
  assert.deepEqual(plan.stillOver, []);
});

// Random clusters: 2–7 hosts, some down or draining, guests of 8–512 MiB.
const arbHosts = fc
  .array(
    fc.record({
      memoryMiB: fc.integer({ min: 64, max: 4096 }),
      usedPct: fc.integer({ min: 0, max: 100 }),
      promisedMiB: fc.integer({ min: 0, max: 256 }),
      up: fc.integer({ min: 0, max: 9 }).map((n) => n > 1),
      draining: fc.integer({ min: 0, max: 9 }).map((n) => (n === 0 ? 'drain' : null)),
    }),
    { minLength: 2, maxLength: 7 },
  )
  .map((hs) =>
    hs.map((h, i) => ({
      name: `h${i}`,
      up: h.up,
      draining: h.draining,
      memoryMiB: h.memoryMiB,
      usedMiB: Math.floor((h.memoryMiB * h.usedPct) / 100),
      promisedMiB: Math.min(h.promisedMiB, h.memoryMiB - Math.floor((h.memoryMiB * h.usedPct) / 100)),
    })),
  );
const arbGuests = fc.array(fc.integer({ min: 8, max: 512 }), { maxLength: 30 });

test('placement - property: a drain plan never overcommits a host and leaves a guest out only when nothing had room', () => {
  fc.assert(
    fc.property(arbHosts, arbGuests, (hosts, sizes) => {
      const guests = sizes.map((memoryMiB, i) => ({ vm: `vm${i}`, memoryMiB, source: 'h0' }));
      const plan = planPlacement(guests, hosts);
      const given = new Map<string, number>();
      const sizeOf = new Map(guests.map((g) => [g.vm, g.memoryMiB]));
      let previous = Infinity;
      for (const { vm, to } of plan) {
        const mib = sizeOf.get(vm)!;
        assert.ok(mib <= previous, 'biggest first');
        previous = mib;
        if (to === null) {
          // At its turn, no eligible host had the room.
          const now = hosts.map((h) => ({ ...h, promisedMiB: h.promisedMiB + (given.get(h.name) ?? 0) }));
          assert.deepEqual(rankDestinations({ vm, memoryMiB: mib, source: 'h0' }, now), []);
          continue;
        }
        const h = hosts.find((x) => x.name === to)!;
        assert.ok(h.up && !h.draining && h.name !== 'h0', `${to} is eligible`);
        given.set(to, (given.get(to) ?? 0) + mib);
      }
      for (const h of hosts)
        assert.ok((given.get(h.name) ?? 0) <= Math.max(0, roomMiB(h)), `${h.name} not overcommitted`);
    }),
    { numRuns: 500 },
  );
});

test('placement - property: a rebalance plan pushes no destination over the threshold and only lowers sources', () => {
  fc.assert(
    fc.property(
      arbHosts,
      fc.array(arbGuests, { minLength: 7, maxLength: 7 }),
      fc.integer({ min: 30, max: 95 }),
      (raw, sizesPerHost, threshold) => {
        // The guests of each host add up to its used memory (the remainder is the agent's own).
        const guests: Record<string, { vm: string; memoryMiB: number }[]> = {};
        const hosts = raw.map((h, i) => {
          const list: { vm: string; memoryMiB: number }[] = [];
          let sum = 0;
          for (const [k, mib] of (sizesPerHost[i] ?? []).entries()) {
            if (sum + mib > h.usedMiB) break;
            sum += mib;
            list.push({ vm: `${h.name}-vm${k}`, memoryMiB: mib });
          }
          guests[h.name] = list;
          return { ...h, usedMiB: sum };
        });
        const plan = planRebalance(hosts, guests, threshold);
        const after = new Map(hosts.map((h) => [h.name, { ...h }]));
        const moved = new Set<string>();
        for (const m of plan.moves) {
          assert.ok(!moved.has(m.vm), `${m.vm} moves once`);
          moved.add(m.vm);
          assert.ok(
            guests[m.source]!.some((g) => g.vm === m.vm && g.memoryMiB === m.memoryMiB),
            'a guest of its source',
          );
          const src = hosts.find((h) => h.name === m.source)!;
          assert.ok(src.up && !src.draining, 'sources are live and not draining');
          after.get(m.source)!.usedMiB -= m.memoryMiB;
          after.get(m.to)!.usedMiB += m.memoryMiB;
        }
        for (const h of hosts) {
          const a = after.get(h.name)!;
          const wasOver = plan.over.includes(h.name);
          if (wasOver) assert.ok(loadPct(a) <= loadPct(h), `${h.name} only loses guests`);
          else if (plan.moves.some((m) => m.to === h.name)) {
            assert.ok(loadPct(a) <= threshold + 1e-9, `${h.name} stays under ${threshold}% (${loadPct(a)})`);
          }
          if (wasOver && !plan.stillOver.includes(h.name)) assert.ok(loadPct(a) <= threshold + 1e-9);
          if (plan.stillOver.includes(h.name)) assert.ok(loadPct(a) > threshold);
        }
      },
    ),
    { numRuns: 500 },
  );
});

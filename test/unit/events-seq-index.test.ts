// The reader's index by host and seq: copies dropped, a reused seq kept, holes found.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import type { FerryEvent } from '../../protocol/events.ts';
import { SeqIndex } from '../../events/seq-index.ts';
import { EventForge } from '../../lab/event-forge.ts';
import { guestStarted } from '../../lab/event-scenarios.ts';

test('seq index - a copy is dropped, another event at the same seq is not', () => {
  const index = new SeqIndex();
  const [a, b] = guestStarted(new EventForge(), 'host-a', 'vm-1');
  assert.equal(index.add(a!), true);
  assert.equal(index.add({ ...a! }), false, 'the same event shipped twice');
  assert.equal(
    index.add({ ...b!, seq: a!.seq }),
    true,
    'a host that reused a seq (wiped outbox) is not a copy',
  );
  assert.equal(index.add({ ...b!, seq: a!.seq }), false);
});

test('seq index - holes in a host sequence are the events that never reached the log', () => {
  const index = new SeqIndex();
  const events = guestStarted(new EventForge(), 'host-a', 'vm-1').concat(
    guestStarted(new EventForge(), 'host-b', 'vm-2'),
  );
  const lost = events.filter((e) => !(e.host === 'host-a' && e.seq === 1));
  for (const e of lost.reverse()) index.add(e);
  assert.deepEqual(index.gaps(), [
    {
      host: 'host-a',
      after: { host: 'host-a', seq: 0, id: events[0]!.id },
      before: { host: 'host-a', seq: 2, id: events[2]!.id },
      missing: 1,
    },
  ]);
});

/** The index as it was before ids were packed: per host, seq → every id read at it. */
class ModelIndex {
  private readonly seqs = new Map<string, Map<number, string[]>>();
  add(e: { host: string; seq: number; id: string }): boolean {
    let host = this.seqs.get(e.host);
    if (!host) this.seqs.set(e.host, (host = new Map<number, string[]>()));
    const ids = host.get(e.seq);
    if (!ids) host.set(e.seq, [e.id]);
    else if (ids.includes(e.id)) return false;
    else ids.push(e.id);
    return true;
  }
  gaps() {
    const gaps = [];
    for (const [host, seqs] of [...this.seqs].sort(([a], [b]) => (a < b ? -1 : 1))) {
      const sorted = [...seqs.keys()].sort((a, b) => a - b);
      for (let k = 1; k < sorted.length; k++) {
        const [a, b] = [sorted[k - 1]!, sorted[k]!];
        const ref = (seq: number) => ({ host, seq, id: seqs.get(seq)![0]! });
        if (b > a + 1) gaps.push({ host, after: ref(a), before: ref(b), missing: b - a - 1 });
      }
    }
    return gaps;
  }
}

test('seq index - packed ids behave as the plain index: copies, reused seqs, odd ids, holes', () => {
  // A few ids, so that copies and reused seqs are common; upper-case and non-UUID ids are kept as
  // strings; seqs across chunk edges (1024) and far apart.
  const id = fc.oneof(
    fc.constantFrom(
      '0b6f3c52-8f0e-4d3a-9c51-1f2e3d4c5b6a',
      // the same but for its last digit
      '0b6f3c52-8f0e-4d3a-9c51-1f2e3d4c5b6b',
      'ffffffff-ffff-ffff-ffff-ffffffffffff',
      '00000000-0000-0000-0000-000000000000',
      '0B6F3C52-8F0E-4D3A-9C51-1F2E3D4C5B6A',
      'not-a-uuid',
    ),
    fc.uuid(),
  );
  const event = fc.record({
    host: fc.constantFrom('host-a', 'host-b'),
    seq: fc.oneof(
      fc.integer({ min: 0, max: 40 }),
      fc.integer({ min: 1000, max: 1050 }),
      fc.integer({ min: 0, max: 2 ** 40 }),
    ),
    id,
  });
  fc.assert(
    fc.property(fc.array(event, { minLength: 20, maxLength: 200 }), (events) => {
      const index = new SeqIndex();
      const model = new ModelIndex();
      for (const e of events) {
        assert.equal(index.add(e as FerryEvent), model.add(e), `add ${JSON.stringify(e)}`);
      }
      assert.deepEqual(index.gaps(), model.gaps());
    }),
    { seed: 20261207, numRuns: 300 },
  );
});

test("seq index - each host's first seq read is known, whatever order the events came in", () => {
  const f = new EventForge();
  const a = guestStarted(f, 'host-a', 'vm-1');
  const b = guestStarted(f, 'host-b', 'vm-2');
  const index = new SeqIndex();
  // host-b's first event never reached this log; the rest came in reverse.
  for (const e of [...a, ...b.slice(1)].reverse()) index.add(e);
  assert.deepEqual(index.firsts(), [
    { host: 'host-a', seq: 0, id: a[0]!.id },
    { host: 'host-b', seq: 1, id: b[1]!.id },
  ]);
});

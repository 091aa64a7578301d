// The reader's index by host and seq: copies dropped, a reused seq kept, holes found.
import assert from 'node:assert/strict';
import { test } from 'node:test';
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

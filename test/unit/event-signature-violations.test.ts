// Events the signature check refused, as the audit's violations: each names its topic, partition
// and offset and cites what the event claims; past LISTED_PER_KIND of a kind, one violation sums
// up the rest (a log audited with security on over a past without it holds millions).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  LISTED_PER_KIND,
  UnverifiedTally,
  unverifiedViolations,
  type Unverified,
} from '../../events/unverified.ts';

function unverified(n: number, unsigned: boolean): Unverified[] {
  return Array.from({ length: n }, (_, i) => ({
    topic: 'ferry.events',
    partition: i % 3,
    offset: String(1000 + i),
    unsigned,
    reason: unsigned ? 'it carries no signature, and security is on' : 'its signature does not match',
    claims: {
      host: 'host-a',
      seq: i,
      id: `00000000-0000-4000-8000-${String(i).padStart(12, '0')}`,
      type: 'guest.started',
      time: '2026-12-07T21:00:00.000Z',
    },
  }));
}

test('event-signature violations - each refused event is one violation naming where it is and what it claims', () => {
  const [forged, unsigned] = unverifiedViolations([...unverified(1, false), ...unverified(1, true)]);
  assert.equal(forged?.check, 'event-forged');
  assert.equal(forged?.invariant, 5);
  assert.deepEqual(forged?.at, { topic: 'ferry.events', partition: 0, offset: '1000' });
  assert.equal(
    forged?.message,
    'ferry.events partition 0 offset 1000: guest.started claiming host-a:0 is not taken: its signature does not match',
  );
  assert.deepEqual(
    forged?.cites.map((c) => `${c.host}:${c.seq}`),
    ['host-a:0'],
  );
  assert.equal(unsigned?.check, 'event-unsigned');
});

test('event-signature violations - past the listed ones, the rest of a kind is counted, not kept, and summed up in one', () => {
  const all = unverified(LISTED_PER_KIND + 50, true);
  const tally = new UnverifiedTally();
  for (const u of [...all, ...unverified(3, false)]) tally.add(u);
  assert.equal(tally.listed.length, LISTED_PER_KIND + 3, 'what is kept: the first of each kind');
  assert.equal(tally.total, LISTED_PER_KIND + 53);
  const v = unverifiedViolations(all);
  assert.equal(v.length, LISTED_PER_KIND + 1);
  const last = v.at(-1)!;
  assert.equal(
    last.message,
    `… and 50 more unsigned events in partitions 0, 1, 2, the first at partition ${all[LISTED_PER_KIND]!.partition} offset ${all[LISTED_PER_KIND]!.offset}`,
  );
  assert.deepEqual(last.at?.offset, all[LISTED_PER_KIND]!.offset);
});

// What a reader of the log makes of a message: an event, or the one-line reason it is not one.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { decodeEvent } from '../../events/decode.ts';
import { IdMemory, takeMessage } from '../../events/intake.ts';
import { EventForge, asMessage } from '../../lab/event-forge.ts';
import { guestStarted } from '../../lab/event-scenarios.ts';

const valid = guestStarted(new EventForge(), 'host-a', 'vm-1')[2]!;

test('decode - a valid event comes back parsed', () => {
  const d = decodeEvent(JSON.stringify(valid));
  assert.ok(d.ok);
  assert.deepEqual(d.event, valid);
});

test('decode - each kind of bad message has its reason', () => {
  const reason = (v: string | null) => {
    const d = decodeEvent(v);
    assert.equal(d.ok, false);
    return d.ok ? '' : d.reason;
  };
  assert.equal(reason(null), 'empty message');
  assert.match(reason('{"id": '), /^bad JSON: /);
  assert.equal(reason('[1]'), 'bad JSON: not an object');
  assert.equal(reason(JSON.stringify({ ...valid, version: 2 })), 'unknown version 2 (this reader knows 1)');
  assert.equal(
    reason(JSON.stringify({ ...valid, version: undefined })),
    'unknown version undefined (this reader knows 1)',
  );
  assert.match(
    reason(JSON.stringify({ ...valid, data: { pid: 'x', paused: false } })),
    /^schema: guest.started data.pid: /,
  );
  assert.match(
    reason(JSON.stringify({ ...valid, type: 'guest.exploded' })),
    /^schema: guest.exploded type: /,
  );
});

test('intake - duplicates dropped by id, other VMs skipped before parsing, bounded memory forgets', () => {
  const seen = new IdMemory(1000);
  const m = asMessage(valid);
  const msg = { key: Buffer.from(String(m.key)), value: Buffer.from(String(m.value)) };
  assert.equal(takeMessage(msg, {}, seen).kind, 'event');
  assert.equal(takeMessage(msg, {}, seen).kind, 'duplicate');
  const garbage = { key: Buffer.from('vm-2'), value: Buffer.from('not json') };
  assert.equal(takeMessage(garbage, { vms: new Set(['vm-1']) }, seen).kind, 'skipped');
  assert.equal(takeMessage(garbage, { vms: new Set(['vm-2']) }, seen).kind, 'rejected');
  const small = new IdMemory(2);
  const id = (x: string) => ({ id: x });
  assert.ok(small.add(id('a')) && small.add(id('b')) && small.add(id('c')));
  assert.equal(small.add(id('c')), false);
  assert.equal(small.add(id('a')), true, 'the oldest id was forgotten');
});

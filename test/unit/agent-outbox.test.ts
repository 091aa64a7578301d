import assert from 'node:assert/strict';
import { appendFileSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { CURSOR_PERSIST_MS, Outbox } from '../../hosts/outbox/outbox.ts';

const dirs: string[] = [];
after(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));
function dir(): string {
  const d = mkdtempSync(join(tmpdir(), 'ferry-outbox-'));
  dirs.push(d);
  return d;
}

const stopped = (vm: string) => ({ type: 'guest.stopped' as const, vm, data: { reason: 'test' } });

test('outbox - events get envelopes with gap-free sequence numbers and are on disk before record returns', () => {
  const d = dir();
  const box = new Outbox(d, 'host-a');
  const a = box.record(stopped('vm-1'));
  const b = box.record({ ...stopped('vm-2'), migrationId: 'm-1' });
  assert.deepEqual([a.seq, b.seq], [0, 1]);
  assert.equal(a.host, 'host-a');
  assert.equal(b.migrationId, 'm-1');
  assert.notEqual(a.id, b.id);
  const lines = readFileSync(join(d, 'outbox.jsonl'), 'utf8').trim().split('\n');
  assert.deepEqual(
    lines.map((l) => (JSON.parse(l) as { id: string }).id),
    [a.id, b.id],
  );
  box.close();
});

test('outbox - a restarted agent finds what was not acknowledged and continues the sequence', () => {
  const d = dir();
  const first = new Outbox(d, 'host-a');
  for (let i = 0; i < 5; i++) first.record(stopped(`vm-${i}`));
  first.acknowledge(2);
  first.close();

  const second = new Outbox(d, 'host-a');
  assert.deepEqual(
    second.peek(10).map((e) => e.seq),
    [3, 4],
  );
  assert.equal(second.record(stopped('vm-9')).seq, 5);
  second.close();
});

test('outbox - a torn last line (crash mid-write) leaves the outbox for its quarantine, the events before it kept', () => {
  const d = dir();
  const box = new Outbox(d, 'host-a');
  box.record(stopped('vm-1'));
  box.close();
  appendFileSync(join(d, 'outbox.jsonl'), '{"id":"half-writ');
  const again = new Outbox(d, 'host-a');
  assert.equal(again.backlog, 1);
  assert.equal(again.record(stopped('vm-2')).seq, 1);
  again.close();
  const lines = readFileSync(join(d, 'outbox.jsonl'), 'utf8').trim().split('\n');
  assert.equal(lines.length, 2, 'the torn line left the outbox, not kept between good lines');
});

test('outbox - an event that breaks its schema is refused before it is stored', () => {
  const box = new Outbox(dir(), 'host-a');
  assert.throws(() => box.record({ type: 'guest.stopped', vm: 'Not A Valid VM!', data: { reason: 'x' } }));
  assert.equal(box.backlog, 0);
  box.close();
});

test('outbox - recordSoon events are in the file at once, in sequence with record, and a crashed agent finds them', () => {
  const d = dir();
  const box = new Outbox(d, 'host-a');
  const a = box.recordSoon(stopped('vm-1'));
  const b = box.record(stopped('vm-2'));
  const c = box.recordSoon(stopped('vm-3'));
  assert.deepEqual([a.seq, b.seq, c.seq], [0, 1, 2]);
  // No close: the agent died (its fd is left open); what it wrote is in the file.
  const after = new Outbox(d, 'host-a');
  assert.deepEqual(
    after.peek(10).map((e) => e.id),
    [a.id, b.id, c.id],
  );
  after.close();
  box.close();
});

test('outbox - the cursor is written at once, then at most every CURSOR_PERSIST_MS; a crash in between ships again, never reuses a seq', () => {
  const d = dir();
  const cursor = () => readFileSync(join(d, 'outbox.cursor'), 'utf8');
  const box = new Outbox(d, 'host-a');
  for (let i = 0; i < 5; i++) box.record(stopped(`vm-${i}`));
  box.acknowledge(1);
  assert.equal(cursor(), '1', 'the first acknowledgement is written at once');
  box.acknowledge(3);
  assert.equal(cursor(), '1', `a second one within ${CURSOR_PERSIST_MS} ms waits`);
  assert.deepEqual(
    box.peek(10).map((e) => e.seq),
    [4],
    'in memory it is acknowledged',
  );
  // The agent dies now: a restarted one ships 2 and 3 again (at least once) and goes on from 5.
  const after = new Outbox(d, 'host-a');
  assert.deepEqual(
    after.peek(10).map((e) => e.seq),
    [2, 3, 4],
  );
  assert.equal(after.record(stopped('vm-9')).seq, 5);
  after.close();
  box.close();
  assert.equal(cursor(), '3', 'close writes the cursor it held back');
});

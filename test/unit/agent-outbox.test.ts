import assert from 'node:assert/strict';
import { appendFileSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { Outbox } from '../../hosts/agent/outbox.ts';

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

test('outbox - a torn last line (crash mid-write) is dropped, the events before it kept', () => {
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
  assert.equal(lines.length, 2, 'the torn line was cut off, not kept between good lines');
});

test('outbox - an event that breaks its schema is refused before it is stored', () => {
  const box = new Outbox(dir(), 'host-a');
  assert.throws(() => box.record({ type: 'guest.stopped', vm: 'Not A Valid VM!', data: { reason: 'x' } }));
  assert.equal(box.backlog, 0);
  box.close();
});

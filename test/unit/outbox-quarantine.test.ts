// An outbox that finds unreadable lines when it is opened again: each goes to the quarantine file
// (byte for byte, with why and where), is counted and logged, and every readable event after it
// is kept and shipped; the next seq never reuses one a damaged line seems to carry. With a signer
// the outbox signs what it records, and signs on recovery what was recorded unsigned.
import assert from 'node:assert/strict';
import { appendFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { decodeEvent } from '../../events/decode.ts';
import { EventVerifier } from '../../events/signatures.ts';
import { Outbox } from '../../hosts/outbox/outbox.ts';
import { QuarantinedSchema } from '../../hosts/outbox/recover.ts';
import { createLogger } from '../../infra/logging/logger.ts';
import { seededSigner } from '../../lab/event-forge.ts';

const dirs: string[] = [];
after(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));
function dir(): string {
  const d = mkdtempSync(join(tmpdir(), 'ferry-outbox-q-'));
  dirs.push(d);
  return d;
}

const stopped = (vm: string) => ({ type: 'guest.stopped' as const, vm, data: { reason: 'test' } });
const outboxFile = (d: string) => join(d, 'outbox.jsonl');
const lines = (d: string) =>
  readFileSync(outboxFile(d), 'utf8')
    .split('\n')
    .filter((l) => l !== '');

function quarantine(d: string) {
  return readFileSync(join(d, 'outbox.quarantine.jsonl'), 'utf8')
    .trim()
    .split('\n')
    .map((l) => QuarantinedSchema.parse(JSON.parse(l)));
}

function recordFive(d: string): void {
  const box = new Outbox(d, 'host-a');
  for (let i = 0; i < 5; i++) box.record(stopped(`vm-${i}`));
  box.acknowledge(0);
  box.close();
}

test('outbox-quarantine - a corrupted line is quarantined, counted and logged; the events after it are kept and shipped', () => {
  const d = dir();
  recordFive(d);
  const original = lines(d);
  // A flipped byte in seq 2's line: still "seq":2 to a reader, no longer JSON.
  const damaged = original[2]!.replace('"type"', '"ty\u0000pe').replace('{', '[');
  writeFileSync(outboxFile(d), [original[0], original[1], damaged, original[3], original[4], ''].join('\n'));

  const logged: string[] = [];
  const log = createLogger('test', 'info', (line) => logged.push(line));
  const box = new Outbox(d, 'host-a', { log });
  assert.deepEqual(
    box.peek(10).map((e) => e.seq),
    [1, 3, 4],
    'every unshipped readable event, the ones after the bad line too',
  );
  assert.equal(box.quarantined, 1);
  const [q] = quarantine(d);
  assert.equal(Buffer.from(q!.raw, 'base64').toString('utf8'), damaged, 'kept byte for byte');
  assert.deepEqual([q!.line, q!.seq], [3, 2]);
  assert.match(q!.reason, /^bad JSON/);
  assert.equal(logged.length, 1);
  assert.match(logged[0]!, /quarantine/);
  assert.deepEqual(
    lines(d),
    [original[0], original[1], original[3], original[4]],
    'the bad line left the outbox',
  );
  assert.equal(box.record(stopped('vm-9')).seq, 5);
  box.close();

  // Opened again: nothing more to quarantine, the count is what the file holds.
  const again = new Outbox(d, 'host-a');
  assert.equal(again.quarantined, 1);
  assert.deepEqual(
    again.peek(10).map((e) => e.seq),
    [1, 3, 4, 5],
  );
  again.close();
});

test('outbox-quarantine - the next seq skips one a damaged last line seems to carry', () => {
  const d = dir();
  recordFive(d);
  const original = lines(d);
  // seq 4's line breaks its schema (a bad VM name), but its seq can still be read.
  writeFileSync(
    outboxFile(d),
    [...original.slice(0, 4), original[4]!.replace('"vm-4"', '"BAD VM"'), ''].join('\n'),
  );
  const box = new Outbox(d, 'host-a');
  assert.equal(box.quarantined, 1);
  assert.match(quarantine(d)[0]!.reason, /^schema: vm/);
  assert.equal(box.record(stopped('vm-9')).seq, 5, 'seq 4 is not used again: the audit will see the hole');
  box.close();
});

test('outbox-quarantine - a last line cut off mid-write is quarantined; a whole event missing only its newline is kept', () => {
  const d = dir();
  recordFive(d);
  const original = lines(d);
  writeFileSync(outboxFile(d), original.join('\n')); // no newline after seq 4
  const kept = new Outbox(d, 'host-a');
  assert.deepEqual(kept.peek(10).at(-1)?.seq, 4);
  assert.equal(kept.quarantined, 0);
  assert.equal(kept.record(stopped('vm-9')).seq, 5);
  kept.close();
  assert.equal(lines(d).length, 6, 'the new event is a line of its own');

  appendFileSync(outboxFile(d), '{"id":"half-writ');
  const cut = new Outbox(d, 'host-a');
  assert.equal(cut.quarantined, 1);
  assert.match(quarantine(d)[0]!.reason, /^torn/);
  assert.equal(cut.record(stopped('vm-10')).seq, 6);
  cut.close();
});

test('outbox-quarantine - with a signer every event is signed as recorded, and unsigned leftovers when recovered', () => {
  const signer = seededSigner('host-a');
  const verifier = new EventVerifier(
    new Map([
      [
        signer.keyId,
        {
          role: 'host' as const,
          name: 'host-a',
          publicKey: signer.publicKey.export({ type: 'spki', format: 'pem' }).toString(),
          registeredAt: '2026-12-07T21:00:00.000Z',
        },
      ],
    ]),
    true,
  );
  const verdict = (e: object) => {
    const decoded = decodeEvent(JSON.stringify(e));
    assert.ok(decoded.ok);
    return verifier.check(decoded.raw, decoded.event);
  };
  const d = dir();
  recordFive(d); // security was off: unsigned
  const box = new Outbox(d, 'host-a', { signer });
  const pending = box.peek(10);
  assert.deepEqual(
    pending.map((e) => e.seq),
    [1, 2, 3, 4],
  );
  for (const e of pending) assert.deepEqual(verdict(e), { ok: true }, `seq ${e.seq}`);
  const fresh = box.record(stopped('vm-9'));
  assert.deepEqual(verdict(fresh), { ok: true });
  assert.deepEqual(JSON.parse(lines(d).at(-1)!), fresh, 'the line in the outbox is the signed event');
  box.close();
});

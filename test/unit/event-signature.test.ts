// Events signed by their publisher and checked against the registered keys: what verifies, and
// each way an event is refused (changed, unknown key, another publisher's key, unsigned with
// security on, a signature text that only decodes alike).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { decodeEvent } from '../../events/decode.ts';
import { IdMemory, takeMessage } from '../../events/intake.ts';
import { EventVerifier, type Verdict } from '../../events/signatures.ts';
import type { EventKey } from '../../infra/redis/event-keys.ts';
import { asMessage, EventForge, seededSigner } from '../../lab/event-forge.ts';
import { completedMigration, guestStarted } from '../../lab/event-scenarios.ts';
import { canonicalJson, EventSigner } from '../../protocol/event-signature.ts';
import { EventSchema, type FerryEvent } from '../../protocol/events.ts';

const hostA = seededSigner('host-a');
const hostB = seededSigner('host-b');
const controller = seededSigner('controller');
const stranger = seededSigner('stranger');

function entry(role: EventKey['role'], name: string, s: EventSigner): EventKey {
  const publicKey = s.publicKey.export({ type: 'spki', format: 'pem' }).toString();
  return { role, name, publicKey, registeredAt: '2026-12-07T21:00:00.000Z' };
}

const registry = new Map<string, EventKey>([
  [hostA.keyId, entry('host', 'host-a', hostA)],
  [hostB.keyId, entry('host', 'host-b', hostB)],
  [controller.keyId, entry('controller', 'controller', controller)],
]);

/** What the verifier says of an event as it would come out of Kafka. */
function verdictOf(event: FerryEvent | object, required = true): Verdict {
  const d = decodeEvent(JSON.stringify(event));
  assert.ok(d.ok, d.ok ? '' : d.reason);
  return new EventVerifier(registry, required).check(d.raw, d.event);
}

function forge(): EventForge {
  const f = new EventForge();
  f.signers.set('host-a', hostA);
  f.signers.set('host-b', hostB);
  f.signers.set('controller', controller);
  return f;
}

test('event-signature - an event signed by its host verifies, also after being re-encoded', () => {
  const [leased, defined, started] = guestStarted(forge(), 'host-a', 'vm-1');
  for (const e of [leased!, defined!, started!]) {
    assert.equal(e.sig?.key, hostA.keyId);
    assert.deepEqual(verdictOf(e), { ok: true });
  }
  // Another key order and white space: the same event, the same verdict.
  const reordered = Object.fromEntries(Object.entries(started!).reverse());
  const spaced = JSON.parse(JSON.stringify(reordered, null, 2)) as object;
  assert.deepEqual(verdictOf(spaced), { ok: true });
});

test('event-signature - signing is deterministic: an event shipped twice carries the same signature', () => {
  const [, , started] = guestStarted(new EventForge(), 'host-a', 'vm-1');
  const once = hostA.sign(started!);
  const twice = hostA.sign(hostA.sign(started!));
  assert.equal(once.sig?.value, twice.sig?.value);
  assert.equal(once.sig?.value.length, 86);
});

test('event-signature - a changed event is forged, whatever field changed', () => {
  const [, , started] = guestStarted(forge(), 'host-a', 'vm-1');
  const e = started as Extract<FerryEvent, { type: 'guest.started' }>;
  const changes: object[] = [
    { ...e, data: { ...e.data, pid: e.data.pid + 1 } },
    { ...e, seq: e.seq + 1 },
    { ...e, time: new Date(Date.parse(e.time) + 1).toISOString() },
    { ...e, vm: 'vm-2' },
    { ...e, extra: 'a field the schema drops but the signature covered not' },
  ];
  for (const changed of changes) {
    const v = verdictOf(changed);
    assert.equal(v.ok, false, JSON.stringify(changed));
    assert.ok(!v.ok && v.kind === 'forged' && /does not match its content/.test(v.reason), JSON.stringify(v));
  }
});

test("event-signature - a key nobody registered, or another host's key, makes the event forged", () => {
  const f = new EventForge();
  f.signers.set('host-a', stranger);
  const [, , byStranger] = guestStarted(f, 'host-a', 'vm-1');
  const unknown = verdictOf(byStranger!);
  assert.ok(!unknown.ok && unknown.kind === 'forged');
  assert.match(unknown.reason, new RegExp(`key "${stranger.keyId}", which no publisher registered`));

  // host-b signs, correctly, an event that claims to be host-a's.
  const g = new EventForge();
  g.signers.set('host-a', hostB);
  const [, , byB] = guestStarted(g, 'host-a', 'vm-1');
  const wrong = verdictOf(byB!);
  assert.ok(!wrong.ok && wrong.kind === 'forged');
  assert.match(wrong.reason, /key of host host-b but claims host host-a/);
});

test('event-signature - a controller key signs a migration end under its own name, nothing a host does', () => {
  const f = forge();
  const events = completedMigration(f, {
    vm: 'vm-1',
    migrationId: 'm-1',
    source: 'host-a',
    destination: 'host-b',
  });
  const ended = events.find((e) => e.type === 'migration.ended')!;
  assert.equal(ended.host, 'controller');
  assert.deepEqual(verdictOf(ended), { ok: true });

  const g = new EventForge();
  g.signers.set('controller', controller);
  const byController = g.record('controller', { type: 'guest.killed', vm: 'vm-1', data: { reason: 'x' } });
  const v = verdictOf(byController);
  assert.ok(!v.ok && /a controller does not publish guest.killed/.test(v.reason), JSON.stringify(v));
  const { sig: _s, host: _h, seq: _q, ...rest } = ended;
  const asHost = controller.sign({ ...rest, host: 'host-a', seq: 7 });
  const w = verdictOf(asHost);
  assert.ok(!w.ok && /claims host host-a, a host's name/.test(w.reason), JSON.stringify(w));
});

test('event-signature - unsigned: refused with security on, taken with it off; a bad signature never is', () => {
  const [, , started] = guestStarted(new EventForge(), 'host-a', 'vm-1');
  const on = verdictOf(started!, true);
  assert.ok(!on.ok && on.kind === 'unsigned');
  assert.deepEqual(verdictOf(started!, false), { ok: true });

  const [, , signed] = guestStarted(forge(), 'host-a', 'vm-1');
  const tampered = { ...signed!, data: { pid: 1, paused: true } };
  const off = verdictOf(tampered, false);
  assert.ok(!off.ok && off.kind === 'forged', 'with security off a signature that is there is still checked');
});

test('event-signature - a signature text that only decodes to the same bytes, or another algorithm, is forged', () => {
  const [, , signed] = guestStarted(forge(), 'host-a', 'vm-1');
  const sig = signed!.sig!;
  // Base64 decoders skip characters they do not know: the bytes are equal, the text is not.
  const padded = { ...signed!, sig: { ...sig, value: `${sig.value.slice(0, 43)}.${sig.value.slice(43)}` } };
  assert.ok(!verdictOf(padded).ok);
  const other = { ...signed!, sig: { ...sig, alg: 'rsa' } };
  const v = verdictOf(other);
  assert.ok(!v.ok && /"rsa", not ed25519/.test(v.reason));
});

test('event-signature - signed or not, an event is a version 1 event (the signature is an optional field)', () => {
  const [, , signed] = guestStarted(forge(), 'host-a', 'vm-1');
  const [, , unsigned] = guestStarted(new EventForge(), 'host-a', 'vm-1');
  const a = EventSchema.parse(JSON.parse(JSON.stringify(signed)));
  const b = EventSchema.parse(JSON.parse(JSON.stringify(unsigned)));
  assert.deepEqual([a.version, b.version], [1, 1]);
  assert.deepEqual(a.sig, signed!.sig);
  assert.equal(b.sig, undefined);
  assert.equal(
    'sig' in JSON.parse(JSON.stringify(unsigned)),
    false,
    'an unsigned event has no sig field at all',
  );
});

test('event-signature - a forged copy of an event neither stands in for it nor shuts it out', () => {
  const [, , real] = guestStarted(forge(), 'host-a', 'vm-1');
  const copy = { ...real!, data: { pid: 666, paused: false } };
  const seen = new IdMemory(10);
  const verifier = new EventVerifier(registry, true);
  const message = (e: object) => ({ key: Buffer.from('vm-1'), value: Buffer.from(JSON.stringify(e)) });
  const first = takeMessage(message(copy), {}, seen, verifier);
  assert.equal(first.kind, 'unverified');
  assert.equal(takeMessage(message(real!), {}, seen, verifier).kind, 'event');
  assert.equal(takeMessage(asMessage(real!) as never, {}, seen, verifier).kind, 'duplicate');
});

test('event-signature - the canonical form is RFC 8785: sorted keys, ECMAScript numbers and strings', () => {
  assert.equal(
    canonicalJson({ b: [1, 'x', null, true], a: { d: 1e21, c: 0.1 }, '€': 'é\n', u: undefined }),
    '{"a":{"c":0.1,"d":1e+21},"b":[1,"x",null,true],"€":"é\\n"}',
  );
  // RFC 8785 sorts by UTF-16 code units: "\u20ac" (€) after "\r", before "\ud83d..." (an emoji).
  assert.equal(canonicalJson({ '😀': 1, '€': 2, '\r': 3 }), '{"\\r":3,"€":2,"😀":1}');
});

test('event-signature - a key that is not Ed25519 is refused with one line', () => {
  assert.throws(() => new EventSigner('not a key'), { code: 'EVENT_KEY_INVALID' });
});

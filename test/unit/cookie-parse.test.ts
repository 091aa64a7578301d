// Every way parseCookie refuses a cookie, each with its stable code, and a property: no single
// changed byte of a good cookie is ever accepted or answered with anything but a CookieError.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import {
  COOKIE_ERROR_CODES,
  COOKIE_MAX_BYTES,
  CookieError,
  CookieKeyring,
  formatCookie,
  parseCookie,
  type CookieErrorCode,
  type CookieInput,
  type FormatOptions,
} from '../../protocol/cookie/index.ts';
import { signPayload } from '../../protocol/cookie/sign.ts';
import { encodePayload, joinWire } from '../../protocol/cookie/wire.ts';
import {
  DESTINATION,
  GOLDEN_CASES,
  NOW,
  OTHER_SECRET,
  SOURCE,
  TEST_SECRET,
  readerOf,
  type GoldenCase,
} from '../fixtures/cookies/cases.ts';

const seen = new Set<CookieErrorCode>();

function refused(code: CookieErrorCode, run: () => unknown, mentions?: RegExp): void {
  assert.throws(run, (err: unknown) => {
    assert.ok(err instanceof CookieError, `expected a CookieError, got ${String(err)}`);
    assert.equal(err.code, code, err.message);
    assert.ok(!err.message.includes('\n'), 'one-line message');
    if (mentions) assert.match(err.message, mentions);
    return true;
  });
  seen.add(code);
}

function goldenCase(name: string): GoldenCase {
  const c = GOLDEN_CASES.find((g) => g.name === name);
  assert.ok(c, name);
  return c;
}

const perform = goldenCase('perform-lockstate');
const performWire = (opts: FormatOptions = {}, input: Partial<CookieInput> = {}) =>
  formatCookie({ ...perform.input, ...input }, TEST_SECRET, { ...perform.opts, ...opts });

/** A payload signed with the right secret, to reach the checks behind the signature. */
function signed(payload: unknown): string {
  const encoded = typeof payload === 'string' ? payload : encodePayload(payload);
  return joinWire(encoded, signPayload(encoded, TEST_SECRET));
}

const goodPayload = () => parseCookie(performWire(), TEST_SECRET, readerOf(perform));

test('cookie parse - a good cookie round-trips', () => {
  const cookie = goodPayload();
  assert.equal(cookie.phase, 'perform');
  assert.deepEqual(cookie.lockstate, perform.input.lockstate);
  assert.equal(cookie.nonce, perform.opts.nonce);
});

test('cookie parse - malformed wire strings', () => {
  for (const wire of ['', 'garbage', 'a.b', 'abc.def.ghi', `${'A'.repeat(10)}.${'B'.repeat(42)}`, ' x.y '])
    refused('COOKIE_MALFORMED', () => parseCookie(wire, TEST_SECRET, readerOf(perform)));
  refused('COOKIE_MALFORMED', () =>
    parseCookie(undefined as unknown as string, TEST_SECRET, readerOf(perform)),
  );
});

test('cookie parse - over 16384 bytes is refused, on reading and on issuing', () => {
  const big = `${'A'.repeat(COOKIE_MAX_BYTES)}.${'B'.repeat(43)}`;
  refused('COOKIE_TOO_LONG', () => parseCookie(big, TEST_SECRET, readerOf(perform)), /16384/);
  const disks = Array.from({ length: 64 }, (_, i) => ({
    disk: `disk-${i}-${'x'.repeat(200)}`,
    generation: i,
  }));
  refused('COOKIE_TOO_LONG', () => performWire({}, { lockstate: disks }));
});

test('cookie parse - a tampered payload or another secret is a bad signature', () => {
  const wire = performWire();
  const at = 20;
  const tampered = wire.slice(0, at) + (wire[at] === 'A' ? 'B' : 'A') + wire.slice(at + 1);
  refused(
    'COOKIE_BAD_SIGNATURE',
    () => parseCookie(tampered, TEST_SECRET, readerOf(perform)),
    /cluster secret/,
  );
  refused('COOKIE_BAD_SIGNATURE', () => parseCookie(wire, OTHER_SECRET, readerOf(perform)));
  const other = formatCookie(perform.input, OTHER_SECRET, perform.opts);
  refused('COOKIE_BAD_SIGNATURE', () => parseCookie(other, TEST_SECRET, readerOf(perform)));
});

test('cookie parse - a key id the keyring lacks, or a key replaced longer than a cookie lives, is refused before the signature', () => {
  const old = { id: '0a0b0c0d', secret: TEST_SECRET, createdAt: NOW.getTime() - 60_000 };
  const next = { id: '1a1b1c1d', secret: OTHER_SECRET, createdAt: NOW.getTime() };
  const signedOld = performWire({}, {});
  const underOld = formatCookie(perform.input, new CookieKeyring([old]), perform.opts);
  assert.match(underOld, /^0a0b0c0d\./, 'the cookie names its key');
  refused(
    'COOKIE_UNKNOWN_KEY',
    () => parseCookie(underOld, new CookieKeyring([next]), readerOf(perform)),
    /0a0b0c0d/,
  );
  // A cookie of the single cluster.secret carries no id: a keyring host names why it refuses it.
  refused(
    'COOKIE_UNKNOWN_KEY',
    () => parseCookie(signedOld, new CookieKeyring([old]), readerOf(perform)),
    /FERRY_KEYRING/,
  );
  const rotated = new CookieKeyring([old, next], 1000);
  assert.ok(parseCookie(underOld, rotated, readerOf(perform, new Date(NOW.getTime() + 999))));
  refused(
    'COOKIE_KEY_RETIRED',
    () => parseCookie(underOld, rotated, readerOf(perform, new Date(NOW.getTime() + 1000))),
    /replaced at 2025-03-01T12:00:00.000Z/,
  );
});

test('cookie parse - a signed payload that is not a valid cookie names what is wrong', () => {
  const good = JSON.parse(JSON.stringify(goodPayload())) as Record<string, unknown>;
  refused('COOKIE_INVALID', () => parseCookie(signed('bm90IGpzb24'), TEST_SECRET, readerOf(perform)), /JSON/);
  refused('COOKIE_INVALID', () => parseCookie(signed(null), TEST_SECRET, readerOf(perform)));
  const cases: [Record<string, unknown>, RegExp][] = [
    [{ ...good, from: { host: 'src-a', uuid: 'not-a-uuid' } }, /from\.uuid/],
    [{ ...good, surprise: 1 }, /surprise/],
    [{ ...good, stats: { downtimeMs: 1, bytes: 1, passes: 1, totalTimeMs: 1 } }, /stats is present/],
    [{ ...good, features: ['lockstate', 'digest', 'tunnel'] }, /tunnel is missing/],
    [{ ...good, mandatory: ['lockstate', 'stats'] }, /mandatory names stats/],
    [{ ...good, lockstate: [{ disk: 'disk0', generation: -1 }] }, /lockstate\.0\.generation/],
    [{ ...good, version: '1' }, /version/],
    [{ ...good, expiresAt: good.issuedAt }, /expiresAt is not after issuedAt/],
    [{ ...good, features: [...(good.features as string[]), 'vm'] }, /names vm, which is a cookie field/],
  ];
  for (const [payload, mentions] of cases)
    refused('COOKIE_INVALID', () => parseCookie(signed(payload), TEST_SECRET, readerOf(perform)), mentions);
});

test('cookie parse - another version is refused before its shape is judged', () => {
  const newer = { ...goodPayload(), version: 2, reshaped: { anything: true } };
  refused('COOKIE_VERSION', () => parseCookie(signed(newer), TEST_SECRET, readerOf(perform)), /version 2/);
});

test('cookie parse - an expired cookie', () => {
  const wire = performWire({ ttlMs: 1000 });
  assert.ok(parseCookie(wire, TEST_SECRET, readerOf(perform, new Date(NOW.getTime() + 999))));
  refused('COOKIE_EXPIRED', () =>
    parseCookie(wire, TEST_SECRET, readerOf(perform, new Date(NOW.getTime() + 1000))),
  );
});

test('cookie parse - a cookie replayed into another migration, vm, phase or host', () => {
  const wire = performWire();
  const reader = readerOf(perform);
  refused(
    'COOKIE_MISMATCH',
    () => parseCookie(wire, TEST_SECRET, { ...reader, migrationId: 'mig-0002' }),
    /mig-0001/,
  );
  refused('COOKIE_MISMATCH', () => parseCookie(wire, TEST_SECRET, { ...reader, vm: 'db-1' }), /vm/);
  refused('COOKIE_MISMATCH', () => parseCookie(wire, TEST_SECRET, { ...reader, phase: 'prepare' }), /phase/);
  refused('COOKIE_MISMATCH', () =>
    parseCookie(wire, TEST_SECRET, {
      ...reader,
      to: 'dst-c',
      toUuid: '1c2d3e4f-5a6b-4c7d-8e9f-0a1b2c3d4e5f',
    }),
  );
});

test('cookie parse - an unknown mandatory feature is refused, an unknown optional one ignored', () => {
  const mandatory = performWire({
    extraFeatures: [{ name: 'graphics', mandatory: true, data: { port: 5901 } }],
  });
  refused(
    'COOKIE_UNKNOWN_FEATURE',
    () => parseCookie(mandatory, TEST_SECRET, readerOf(perform)),
    /requires feature graphics which this host does not support; upgrade it/,
  );
  const optional = performWire({
    extraFeatures: [{ name: 'graphics', mandatory: false, data: { port: 5901 } }],
  });
  const cookie = parseCookie(optional, TEST_SECRET, readerOf(perform));
  assert.deepEqual(cookie.features, ['lockstate', 'digest', 'graphics']);
  assert.ok(!('graphics' in cookie));
  const flagOnly = performWire({ extraFeatures: [{ name: 'graphics', mandatory: false }] });
  assert.deepEqual(parseCookie(flagOnly, TEST_SECRET, readerOf(perform)).features, cookie.features);
});

test('cookie parse - a cookie from this very host is refused', () => {
  const reader = readerOf(perform);
  const wire = performWire();
  refused(
    'COOKIE_SAME_HOST',
    () => parseCookie(wire, TEST_SECRET, { ...reader, toUuid: SOURCE.uuid }),
    /refusing to migrate to the same host/,
  );
  const sameName = performWire({}, { from: { host: DESTINATION.host, uuid: SOURCE.uuid } });
  refused('COOKIE_SAME_HOST', () => parseCookie(sameName, TEST_SECRET, reader));
});

test('cookie parse - issuing refuses what no reader could accept', () => {
  refused('COOKIE_INVALID', () => performWire({}, { mandatory: ['stats'] }), /stats mandatory/);
  refused('COOKIE_INVALID', () => performWire({}, { vm: 'Not A VM' }), /^refusing to issue.*\bvm\b/);
  refused('COOKIE_INVALID', () => performWire({ nonce: 'short' }), /nonce/);
  const twice = [
    { name: 'vnc', mandatory: false },
    { name: 'vnc', mandatory: false },
  ];
  refused('COOKIE_INVALID', () => performWire({ extraFeatures: twice }), /features lists a feature twice/);
  refused(
    'COOKIE_INVALID',
    () => performWire({ extraFeatures: [{ name: 'stats', mandatory: false }] }),
    /known one/,
  );
  assert.throws(() => performWire({ ttlMs: 0 }), RangeError);
  assert.throws(() => formatCookie(perform.input, Buffer.alloc(8), perform.opts), {
    code: 'CLUSTER_SECRET_INVALID',
  });
});

test('cookie parse - without a fixed nonce every cookie gets its own', () => {
  const a = parseCookie(performWire({ nonce: undefined }), TEST_SECRET, readerOf(perform));
  const b = parseCookie(performWire({ nonce: undefined }), TEST_SECRET, readerOf(perform));
  assert.notEqual(a.nonce, b.nonce);
  assert.ok(Buffer.from(a.nonce, 'base64url').length >= 16);
});

test('cookie parse - no single changed byte of a good cookie is accepted', () => {
  const wires = GOLDEN_CASES.map((c) => ({ c, wire: formatCookie(c.input, TEST_SECRET, c.opts) }));
  fc.assert(
    fc.property(
      fc.nat(wires.length - 1),
      fc.nat(),
      fc.oneof(fc.integer({ min: 0, max: 255 }), fc.constantFrom(...'AZaz09-_.=+/ ')),
      (which, position, replacement) => {
        const { c, wire } = wires[which]!;
        const at = position % wire.length;
        const char = typeof replacement === 'number' ? String.fromCharCode(replacement) : replacement;
        fc.pre(char !== wire[at]);
        const changed = wire.slice(0, at) + char + wire.slice(at + 1);
        assert.throws(
          () => parseCookie(changed, TEST_SECRET, readerOf(c)),
          (err: unknown) => err instanceof CookieError,
        );
      },
    ),
    { numRuns: 2000 },
  );
});

test('cookie parse - every error code is exercised', () => {
  const parseCodes = COOKIE_ERROR_CODES.filter((code) => code !== 'COOKIE_REPLAYED');
  for (const code of parseCodes) assert.ok(seen.has(code), `${code} is never tested`);
});

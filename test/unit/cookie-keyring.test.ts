// Cookies under a rotating keyring: the newest key signs and the cookie names it; a cookie signed
// under the key before still verifies while it lives, and that key is refused once a cookie's
// life (plus a ring refresh) has passed since it was replaced.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  CookieError,
  CookieKeyring,
  DEFAULT_COOKIE_TTL_MS,
  RETIRED_KEY_GRACE_MS,
  formatCookie,
  parseCookie,
} from '../../protocol/cookie/index.ts';
import { GOLDEN_CASES, NOW, OTHER_SECRET, TEST_SECRET, readerOf } from '../fixtures/cookies/cases.ts';

const perform = GOLDEN_CASES.find((c) => c.name === 'perform-lockstate')!;
const MINUTE = 60_000;
const keyA = { id: 'aaaaaaaa', secret: TEST_SECRET, createdAt: NOW.getTime() - 60 * MINUTE };
const keyB = { id: 'bbbbbbbb', secret: OTHER_SECRET, createdAt: NOW.getTime() + MINUTE };
const at = (ms: number) => new Date(NOW.getTime() + ms);

function code(run: () => unknown): string {
  try {
    run();
  } catch (err) {
    assert.ok(err instanceof CookieError, String(err));
    return err.code;
  }
  return 'accepted';
}

test('cookie keyring - the newest key signs, and the cookie names it', () => {
  const wire = formatCookie(perform.input, new CookieKeyring([keyA, keyB]), {
    ...perform.opts,
    now: at(2 * MINUTE),
  });
  assert.match(wire, /^bbbbbbbb\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]{43}$/);
  assert.equal(
    parseCookie(wire, new CookieKeyring([keyA, keyB]), readerOf(perform, at(3 * MINUTE))).vm,
    'web-1',
  );
});

test('cookie keyring - a cookie signed under the old key verifies until it expires after the rotation', () => {
  // Issued under A, one minute before B replaces A.
  const wire = formatCookie(perform.input, new CookieKeyring([keyA]), perform.opts);
  const rotated = new CookieKeyring([keyA, keyB]);
  assert.equal(
    code(() => parseCookie(wire, rotated, readerOf(perform, at(2 * MINUTE)))),
    'accepted',
  );
  assert.equal(
    code(() => parseCookie(wire, rotated, readerOf(perform, at(DEFAULT_COOKIE_TTL_MS - 1)))),
    'accepted',
  );
  assert.equal(
    code(() => parseCookie(wire, rotated, readerOf(perform, at(DEFAULT_COOKIE_TTL_MS)))),
    'COOKIE_EXPIRED',
  );
});

test('cookie keyring - after the grace the old key is refused, even for a cookie that has not expired', () => {
  const longLived = { ...perform.opts, ttlMs: 60 * MINUTE };
  const wire = formatCookie(perform.input, new CookieKeyring([keyA]), longLived);
  const rotated = new CookieKeyring([keyA, keyB]);
  const refusedFrom = MINUTE + RETIRED_KEY_GRACE_MS;
  assert.equal(
    code(() => parseCookie(wire, rotated, readerOf(perform, at(refusedFrom - 1)))),
    'accepted',
  );
  assert.equal(
    code(() => parseCookie(wire, rotated, readerOf(perform, at(refusedFrom)))),
    'COOKIE_KEY_RETIRED',
  );
  // The current key has no successor: it never retires.
  const underB = formatCookie(perform.input, rotated, { ...longLived, now: at(2 * MINUTE) });
  assert.equal(
    code(() => parseCookie(underB, rotated, readerOf(perform, at(50 * MINUTE)))),
    'accepted',
  );
});

test('cookie keyring - a cookie relabelled with another key id of the ring is a bad signature', () => {
  const rotated = new CookieKeyring([keyA, keyB]);
  const wire = formatCookie(perform.input, rotated, perform.opts);
  const relabelled = wire.replace(/^bbbbbbbb/, 'aaaaaaaa');
  assert.equal(
    code(() => parseCookie(relabelled, rotated, readerOf(perform))),
    'COOKIE_BAD_SIGNATURE',
  );
  // Nor may the id be dropped: the legacy form is refused by a keyring.
  const dropped = wire.replace(/^bbbbbbbb\./, '');
  assert.equal(
    code(() => parseCookie(dropped, rotated, readerOf(perform))),
    'COOKIE_UNKNOWN_KEY',
  );
});

test('cookie keyring - a single secret (keyring off) signs as before key ids: no id on the wire', () => {
  const wire = formatCookie(perform.input, TEST_SECRET, perform.opts);
  assert.equal(wire.split('.').length, 2);
  assert.deepEqual(
    parseCookie(wire, CookieKeyring.legacy(TEST_SECRET), readerOf(perform)),
    parseCookie(wire, TEST_SECRET, readerOf(perform)),
  );
});

test('cookie keyring - built from a Redis ring snapshot, oldest first, the last signs', () => {
  const ring = CookieKeyring.fromRing({
    ring: 'cluster',
    keys: [
      { id: keyA.id, key: keyA.secret, createdAt: keyA.createdAt },
      { id: keyB.id, key: keyB.secret, createdAt: keyB.createdAt },
    ],
    current: { id: keyB.id, key: keyB.secret, createdAt: keyB.createdAt },
  });
  assert.equal(ring.signing.id, keyB.id);
  assert.ok(ring.has(keyA.id) && ring.has(keyB.id) && !ring.has('cccccccc'));
});

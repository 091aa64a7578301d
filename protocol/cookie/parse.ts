// Reading a cookie, cheapest and least trusting checks first: nothing in the payload is looked at
// before its signature holds, and nothing is acted on before it is known to be meant for this
// migration, phase and host. The nonce is returned for the caller's replay check (Redis).
import { CookieError } from './errors.ts';
import { unsupportedFeatures } from './features.ts';
import { describeIssue } from './issues.ts';
import type { CookiePhase } from '../phases.ts';
import { COOKIE_VERSION, CookieSchema, type Cookie } from './schema.ts';
import { asKeyring, type CookieSecret } from './keys.ts';
import { verifyPayload } from './sign.ts';
import { COOKIE_MAX_BYTES, decodePayload, signedText, splitWire } from './wire.ts';

export interface ParseExpectations {
  migrationId: string;
  vm: string;
  /** The phase that should have issued the cookie. */
  phase: CookiePhase;
  /** The reader's host name. */
  to: string;
  /** The reader's host UUID. */
  toUuid: string;
  now?: Date;
}

/** Verified with `secret`, or with the keyring's key the cookie names while that key still may. */
export function parseCookie(wire: string, secret: CookieSecret, expect: ParseExpectations): Cookie {
  const parts = splitWire(wire);
  if (parts === undefined)
    throw new CookieError(
      'COOKIE_MALFORMED',
      'the cookie is not [key id "."] base64url payload "." signature; pass the previous phase\'s cookie unchanged',
    );
  if (wire.length > COOKIE_MAX_BYTES)
    throw new CookieError(
      'COOKIE_TOO_LONG',
      `the cookie is ${wire.length} bytes, over the ${COOKIE_MAX_BYTES}-byte limit; the issuing host must carry less`,
    );
  const now = expect.now ?? new Date();
  const key = asKeyring(secret).verifying(parts.keyId, now);
  if (!verifyPayload(signedText(parts.keyId, parts.payload), parts.signature, key))
    throw new CookieError(
      'COOKIE_BAD_SIGNATURE',
      'the cookie signature does not match: it was altered, or signed with another cluster secret; give every host the same FERRY_CLUSTER_SECRET (keyring off) or the same Redis (keyring on)',
    );

  let raw: unknown;
  try {
    raw = decodePayload(parts.payload);
  } catch (err) {
    throw new CookieError(
      'COOKIE_INVALID',
      'the cookie payload is not JSON although its signature holds; the issuing host has a bug, report it',
      { cause: err },
    );
  }
  // A newer version may be shaped differently throughout, so it is told apart before the schema.
  const version = (raw as { version?: unknown } | null)?.version;
  if (typeof version === 'number' && version !== COOKIE_VERSION)
    throw new CookieError(
      'COOKIE_VERSION',
      `the cookie is version ${version} and this host reads version ${COOKIE_VERSION}; run the same ferry release on both hosts`,
    );
  const parsed = CookieSchema.safeParse(raw);
  if (!parsed.success)
    throw new CookieError(
      'COOKIE_INVALID',
      `the cookie is invalid: ${describeIssue(parsed.error)}; the issuing host has a bug or another release, check both`,
      { cause: parsed.error },
    );
  const cookie = parsed.data;

  if (now.getTime() >= Date.parse(cookie.expiresAt))
    throw new CookieError(
      'COOKIE_EXPIRED',
      `the cookie expired at ${cookie.expiresAt} (now ${now.toISOString()}); the phase came too late or the hosts' clocks disagree: check their clocks and start the migration again`,
    );

  const mismatch = firstMismatch(cookie, expect);
  if (mismatch !== undefined)
    throw new CookieError(
      'COOKIE_MISMATCH',
      `the cookie is for ${mismatch.field} ${mismatch.actual}, not ${mismatch.expected}: it was replayed or misrouted; start the migration again`,
    );

  const [unsupported] = unsupportedFeatures(cookie.mandatory);
  if (unsupported !== undefined)
    throw new CookieError(
      'COOKIE_UNKNOWN_FEATURE',
      `the cookie requires feature ${unsupported} which this host does not support; upgrade it`,
    );

  // As libvirt does, by name and by UUID: a host cloned with its state dir keeps the UUID.
  if (cookie.from.uuid === expect.toUuid || cookie.from.host === expect.to)
    throw new CookieError(
      'COOKIE_SAME_HOST',
      `refusing to migrate to the same host: ${cookie.from.host} (${cookie.from.uuid}) issued a cookie for ${expect.to} (${expect.toUuid}); pick another destination, or give a cloned host its own state dir`,
    );
  return cookie;
}

function firstMismatch(
  cookie: Cookie,
  expect: ParseExpectations,
): { field: string; actual: string; expected: string } | undefined {
  const checks: [string, string, string][] = [
    ['migration', cookie.migrationId, expect.migrationId],
    ['vm', cookie.vm, expect.vm],
    ['phase', cookie.phase, expect.phase],
    ['host', cookie.to, expect.to],
  ];
  const found = checks.find(([, actual, expected]) => actual !== expected);
  return found === undefined ? undefined : { field: found[0], actual: found[1], expected: found[2] };
}

// Issuing a cookie: the caller says what to carry and which of it the reader must understand; the
// envelope (version, times, nonce, feature list) is derived here so that no phase gets it wrong.
import { randomBytes } from 'node:crypto';
import { CookieError } from './errors.ts';
import { isKnownFeature, presentFeatures } from './features.ts';
import { describeIssue } from './issues.ts';
import { COOKIE_VERSION, CookieSchema, type Cookie } from './schema.ts';
import { asKeyring, type CookieSecret } from './keys.ts';
import { signPayload } from './sign.ts';
import { COOKIE_MAX_BYTES, DEFAULT_COOKIE_TTL_MS, encodePayload, joinWire, signedText } from './wire.ts';

export type CookieInput = Omit<
  Cookie,
  'version' | 'nonce' | 'issuedAt' | 'expiresAt' | 'features' | 'mandatory'
> & {
  /** Features the reader must understand or refuse the cookie; each must have its data here. */
  mandatory?: readonly string[];
};

/** A feature this build does not know, to forge the cookie a newer host would send. */
export interface ExtraFeature {
  name: string;
  mandatory: boolean;
  data?: unknown;
}

export interface FormatOptions {
  now?: Date;
  ttlMs?: number;
  /** Fixed only by golden tests; otherwise 16 fresh random bytes. */
  nonce?: string;
  extraFeatures?: readonly ExtraFeature[];
}

/** Signed with `secret`, or with a keyring's current key (whose id the cookie then carries). */
export function formatCookie(cookie: CookieInput, secret: CookieSecret, opts: FormatOptions = {}): string {
  const now = opts.now ?? new Date();
  const ttlMs = opts.ttlMs ?? DEFAULT_COOKIE_TTL_MS;
  if (!Number.isFinite(ttlMs) || ttlMs <= 0)
    throw new RangeError(`cookie ttlMs must be positive, got ${ttlMs}`);
  const extras = opts.extraFeatures ?? [];
  const { mandatory: requested = [], ...carried } = cookie;
  for (const extra of extras)
    if (isKnownFeature(extra.name))
      throw new CookieError(
        'COOKIE_INVALID',
        `refusing to issue a cookie with ${extra.name} as an extra feature; it is a known one, set its field instead`,
      );

  const features = [...presentFeatures(carried), ...extras.map((e) => e.name)];
  const wanted = new Set([...requested, ...extras.filter((e) => e.mandatory).map((e) => e.name)]);
  for (const name of wanted)
    if (!features.includes(name))
      throw new CookieError(
        'COOKIE_INVALID',
        `refusing to issue a cookie that makes ${name} mandatory without carrying its data; add it or drop it from mandatory`,
      );

  const parsed = CookieSchema.safeParse({
    ...carried,
    version: COOKIE_VERSION,
    issuedAt: now.toISOString(),
    expiresAt: new Date(now.getTime() + ttlMs).toISOString(),
    nonce: opts.nonce ?? randomBytes(16).toString('base64url'),
    features,
    mandatory: features.filter((name) => wanted.has(name)),
  });
  if (!parsed.success)
    throw new CookieError(
      'COOKIE_INVALID',
      `refusing to issue an invalid cookie: ${describeIssue(parsed.error)}`,
      { cause: parsed.error },
    );

  // The schema's output follows its own key order, so equal cookies encode to equal bytes.
  const payload: Record<string, unknown> = { ...parsed.data };
  for (const extra of extras) if (extra.data !== undefined) payload[extra.name] = extra.data;
  const encoded = encodePayload(payload);
  const key = asKeyring(secret).signing;
  const wire = joinWire(encoded, signPayload(signedText(key.id, encoded), key.secret), key.id);
  if (wire.length > COOKIE_MAX_BYTES)
    throw new CookieError(
      'COOKIE_TOO_LONG',
      `refusing to issue a ${wire.length}-byte cookie, over the ${COOKIE_MAX_BYTES}-byte limit; carry fewer disks or locks`,
    );
  return wire;
}

// The cookie on the wire: [key id '.'] base64url(JSON) '.' base64url(HMAC-SHA256 of the text
// before the last dot). The key id (8 hex digits, protocol/cookie/keys.ts) names the keyring's
// secret that signed it, and is signed with the payload; a cookie of the legacy single secret has
// none, so its bytes are as they were before key ids. Opaque ASCII, so it passes through Temporal
// payloads, logs and CLI arguments unchanged.

/** libvirt's remote protocol caps a migration cookie at 16384 bytes; we keep its limit. */
export const COOKIE_MAX_BYTES = 16384;
/** Long enough for a slow Prepare on a loaded host, short enough that a leaked cookie soon dies. */
export const DEFAULT_COOKIE_TTL_MS = 300_000;

/** An optional key id and a dot, a payload, a dot and a 43-character signature (32 bytes). */
const WIRE_PATTERN = /^(?:([0-9a-f]{8})\.)?([A-Za-z0-9_-]+)\.([A-Za-z0-9_-]{43})$/;

export function encodePayload(payload: unknown): string {
  return Buffer.from(JSON.stringify(payload), 'utf8').toString('base64url');
}

/** What the signature covers: the key id (if any) and the payload, as they are sent. */
export function signedText(keyId: string, payload: string): string {
  return keyId === '' ? payload : `${keyId}.${payload}`;
}

export function joinWire(payload: string, signature: string, keyId = ''): string {
  return `${signedText(keyId, payload)}.${signature}`;
}

export interface WireParts {
  /** '' for a cookie of the legacy single secret. */
  keyId: string;
  payload: string;
  signature: string;
}

/** The key id, payload and signature of a well-formed wire string, or undefined. */
export function splitWire(wire: unknown): WireParts | undefined {
  if (typeof wire !== 'string') return undefined;
  const m = WIRE_PATTERN.exec(wire);
  if (m === null) return undefined;
  return { keyId: m[1] ?? '', payload: m[2]!, signature: m[3]! };
}

/** Only called on a signed payload, so a decoding failure means a bug on the issuing host. */
export function decodePayload(payload: string): unknown {
  return JSON.parse(Buffer.from(payload, 'base64url').toString('utf8'));
}

// The cookie on the wire: base64url(JSON) '.' base64url(HMAC-SHA256 of that base64url text).
// Opaque ASCII, so it passes through Temporal payloads, logs and CLI arguments unchanged.

/** libvirt's remote protocol caps a migration cookie at 16384 bytes; we keep its limit. */
export const COOKIE_MAX_BYTES = 16384;
/** Long enough for a slow Prepare on a loaded host, short enough that a leaked cookie soon dies. */
export const DEFAULT_COOKIE_TTL_MS = 300_000;

/** A payload, a dot and a 43-character signature (32 bytes): nothing else is ours. */
const WIRE_PATTERN = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]{43}$/;

export function encodePayload(payload: unknown): string {
  return Buffer.from(JSON.stringify(payload), 'utf8').toString('base64url');
}

export function joinWire(payload: string, signature: string): string {
  return `${payload}.${signature}`;
}

/** The payload and signature of a well-formed wire string, or undefined. */
export function splitWire(wire: unknown): { payload: string; signature: string } | undefined {
  if (typeof wire !== 'string' || !WIRE_PATTERN.test(wire)) return undefined;
  const dot = wire.indexOf('.');
  return { payload: wire.slice(0, dot), signature: wire.slice(dot + 1) };
}

/** Only called on a signed payload, so a decoding failure means a bug on the issuing host. */
export function decodePayload(payload: string): unknown {
  return JSON.parse(Buffer.from(payload, 'base64url').toString('utf8'));
}

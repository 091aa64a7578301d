// The cookie passes through Temporal's history and both agents' task queues, so the reader cannot
// trust where it came from; an HMAC under the cluster secret proves a ferry host issued it as is.
import { createHmac, timingSafeEqual } from 'node:crypto';
import { ClusterSecretError } from './errors.ts';

/** As long as the HMAC-SHA256 output: a shorter key would be the weakest link. */
export const MIN_SECRET_BYTES = 32;

function requireSecret(secret: Buffer): void {
  // An empty or truncated secret still yields a valid-looking HMAC, which anyone could forge.
  if (secret.length < MIN_SECRET_BYTES)
    throw new ClusterSecretError(
      `the cluster secret is ${secret.length} bytes, at least ${MIN_SECRET_BYTES} are needed`,
      {
        hint: 'set FERRY_CLUSTER_SECRET to 32+ characters, or remove cluster.secret from the state dir to mint a new one',
      },
    );
}

/** The signature of the payload as sent (its base64url text), itself in base64url. */
export function signPayload(payload: string, secret: Buffer): string {
  requireSecret(secret);
  return createHmac('sha256', secret).update(payload, 'ascii').digest('base64url');
}

/**
 * Compares the signatures as text, not decoded bytes: the last base64url character of a 32-byte
 * value carries two unused bits, so two different strings may decode alike, and a cookie changed
 * there must still be refused.
 */
export function verifyPayload(payload: string, signature: string, secret: Buffer): boolean {
  const expected = Buffer.from(signPayload(payload, secret), 'ascii');
  const given = Buffer.from(signature, 'ascii');
  return given.length === expected.length && timingSafeEqual(given, expected);
}

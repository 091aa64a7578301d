import { FerryError } from '../../errors/ferry-error.ts';

/**
 * Every way a cookie can be refused, in the order it is checked; stable, because the
 * phase activities turn them into failures that the workflow and the operator read.
 */
export const COOKIE_ERROR_CODES = [
  'COOKIE_MALFORMED',
  'COOKIE_TOO_LONG',
  // Signed under a key id this host's keyring lacks, or one replaced longer than a cookie lives.
  'COOKIE_UNKNOWN_KEY',
  'COOKIE_KEY_RETIRED',
  'COOKIE_BAD_SIGNATURE',
  'COOKIE_INVALID',
  'COOKIE_VERSION',
  'COOKIE_EXPIRED',
  'COOKIE_MISMATCH',
  'COOKIE_UNKNOWN_FEATURE',
  'COOKIE_SAME_HOST',
  // Not thrown here: the caller's nonce check (Redis) throws it for a cookie presented twice.
  'COOKIE_REPLAYED',
] as const;
export type CookieErrorCode = (typeof COOKIE_ERROR_CODES)[number];

/** A cookie this host refuses to read (or, for COOKIE_INVALID and COOKIE_TOO_LONG, to write). */
export class CookieError extends FerryError {
  readonly code: CookieErrorCode;

  constructor(code: CookieErrorCode, message: string, options?: { cause?: unknown; hint?: string }) {
    super(message, options);
    this.code = code;
  }
}

export function isCookieError(err: unknown): err is CookieError {
  return err instanceof CookieError;
}

/** The cluster secret is missing, too short or unreadable: no cookie can be signed or checked. */
export class ClusterSecretError extends FerryError {
  readonly code = 'CLUSTER_SECRET_INVALID';
}

// The migration cookie: what each phase of the v3 protocol hands the next, signed with the
// cluster secret. Phase activities import from here only.
export {
  COOKIE_ERROR_CODES,
  ClusterSecretError,
  CookieError,
  isCookieError,
  type CookieErrorCode,
} from './errors.ts';
export { KNOWN_FEATURES, isKnownFeature, type CookieFeature } from './features.ts';
export { formatCookie, type CookieInput, type ExtraFeature, type FormatOptions } from './format.ts';
export {
  CookieKeyring,
  LEGACY_KEY_ID,
  RETIRED_KEY_GRACE_MS,
  asKeyring,
  type CookieKey,
  type CookieSecret,
} from './keys.ts';
export { cookieKeyId, cookieKeySource, type CookieKeySource } from './key-source.ts';
export { parseCookie, type ParseExpectations } from './parse.ts';
export { COOKIE_PHASES, type CookiePhase } from '../phases.ts';
export { COOKIE_VERSION, CookieSchema, type Cookie } from './schema.ts';
export { loadClusterSecret, CLUSTER_SECRET_FILE } from './secret.ts';
export { MIN_SECRET_BYTES } from './sign.ts';
export { COOKIE_MAX_BYTES, DEFAULT_COOKIE_TTL_MS } from './wire.ts';

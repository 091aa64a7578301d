// Feature flags, as libvirt's migration cookie has them: each optional block of data is named in
// `features`, and the issuer lists in `mandatory` the ones the reader must understand. A reader
// ignores an optional feature it does not know (an older host talking to a newer one) and refuses
// a mandatory one, so new data can be introduced without a flag day.
import { z } from 'zod';

export const KNOWN_FEATURES = ['definition', 'lockstate', 'tunnel', 'digest', 'stats', 'epoch'] as const;
export type CookieFeature = (typeof KNOWN_FEATURES)[number];

/** A feature's name is also the top-level key of its data, so it is kept to a plain identifier. */
export const FeatureNameSchema = z
  .string()
  .regex(/^[a-z][a-zA-Z0-9]{0,31}$/, 'feature names are a lower-case letter then letters or digits (max 32)');

export function isKnownFeature(name: string): name is CookieFeature {
  return (KNOWN_FEATURES as readonly string[]).includes(name);
}

/** The features a cookie carries data for, in KNOWN_FEATURES order so that formatting is canonical. */
export function presentFeatures(data: Partial<Record<CookieFeature, unknown>>): CookieFeature[] {
  return KNOWN_FEATURES.filter((name) => data[name] !== undefined);
}

/** The mandatory features this build cannot honour; the reader refuses the cookie if any. */
export function unsupportedFeatures(mandatory: readonly string[]): string[] {
  return mandatory.filter((name) => !isKnownFeature(name));
}

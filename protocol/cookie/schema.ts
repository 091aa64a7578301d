// What a migration cookie carries between the phases of libvirt's v3 protocol: each phase's output
// cookie is the next phase's input (Begin → Prepare → Perform → Finish → Confirm), so a host learns
// what the other side decided without a shared store.
import { z } from 'zod';
import { LockstateSchema } from '../../infra/redis/lockstate.ts';
import { COOKIE_PHASES } from '../phases.ts';
import { VmNameSchema } from '../events.ts';
import { HostNameSchema } from '../names.ts';
import { TOKEN_PATTERN } from '../names.ts';
import { FeatureNameSchema, KNOWN_FEATURES, isKnownFeature } from './features.ts';

export const COOKIE_VERSION = 1;

/** 16 random bytes or more, base64url: enough that a nonce seen twice is a replay, not chance. */
export const NONCE_PATTERN = /^[A-Za-z0-9_-]{22,128}$/;

const sha256 = z.string().regex(/^[0-9a-f]{64}$/, 'must be a sha256 in lower-case hex');

/** Begin → Prepare: what the destination must start to receive the guest. */
export const DefinitionSchema = z.strictObject({
  kind: z.enum(['emulated', 'qemu']),
  memoryMiB: z.number().int().positive(),
  dirtyPagesPerSecond: z.number().nonnegative(),
  disks: z.array(z.string().min(1)).max(64),
});

/** Prepare → Perform: where the source connects, and the one-time token that admits it. */
export const TunnelSchema = z.strictObject({
  host: z.string().min(1).max(253),
  port: z.number().int().min(1).max(65535),
  token: z.string().regex(TOKEN_PATTERN, 'must be the tunnel token: 32 bytes base64url'),
});

/** Guest memory as each side saw it with the vCPUs stopped; Confirm compares them. */
export const DigestSchema = z
  .strictObject({ source: sha256.optional(), destination: sha256.optional() })
  .refine((d) => d.source !== undefined || d.destination !== undefined, 'has neither digest');

/**
 * Every phase: the epoch of Redis the cookie was issued in. Its nonce is spent in that Redis; one
 * that lost its data since has forgotten the nonce, so the reader refuses the cookie as stale.
 */
export const EpochSchema = z.string().regex(/^[A-Za-z0-9-]{1,64}$/, 'must be a Redis epoch id');

/** Finish → Confirm: what the migration cost, for the source's record. */
export const StatsSchema = z.strictObject({
  downtimeMs: z.number().nonnegative(),
  bytes: z.number().int().nonnegative(),
  passes: z.number().int().nonnegative(),
  totalTimeMs: z.number().nonnegative(),
});

const cookieShape = {
  version: z.literal(COOKIE_VERSION),
  migrationId: z.string().min(1).max(256),
  vm: VmNameSchema,
  phase: z.enum(COOKIE_PHASES),
  /** The host UUID lets the reader refuse a migration to itself whatever the names say. */
  from: z.strictObject({ host: HostNameSchema, uuid: z.uuid() }),
  to: HostNameSchema,
  issuedAt: z.iso.datetime(),
  expiresAt: z.iso.datetime(),
  nonce: z.string().regex(NONCE_PATTERN, 'must be 16+ random bytes in base64url'),
  features: z.array(FeatureNameSchema).max(32),
  mandatory: z.array(FeatureNameSchema).max(32),
  definition: DefinitionSchema.optional(),
  tunnel: TunnelSchema.optional(),
  /**
   * Perform → Finish: the disk leases the source released, with their generation, so the
   * destination acquires exactly those and a stale holder is fenced (libvirt carries its lock
   * state the same way).
   */
  lockstate: LockstateSchema.optional(),
  digest: DigestSchema.optional(),
  stats: StatsSchema.optional(),
  epoch: EpochSchema.optional(),
};
const COOKIE_KEYS: ReadonlySet<string> = new Set(Object.keys(cookieShape));

const CookieObject = z.strictObject(cookieShape).superRefine((c, ctx) => {
  const listed = new Set(c.features);
  if (listed.size !== c.features.length)
    ctx.addIssue({ code: 'custom', path: ['features'], message: 'lists a feature twice' });
  if (new Set(c.mandatory).size !== c.mandatory.length)
    ctx.addIssue({ code: 'custom', path: ['mandatory'], message: 'lists a feature twice' });
  for (const name of c.features)
    if (COOKIE_KEYS.has(name) && !isKnownFeature(name))
      ctx.addIssue({ code: 'custom', path: ['features'], message: `names ${name}, which is a cookie field` });
  for (const name of c.mandatory)
    if (!listed.has(name))
      ctx.addIssue({
        code: 'custom',
        path: ['mandatory'],
        message: `names ${name}, which features does not list`,
      });
  // The flag and the data go together: a flag without data would make a reader act on nothing
  // (libvirt's graphics-flag crash), data without a flag would be read by no one.
  for (const name of KNOWN_FEATURES) {
    if (listed.has(name) && c[name] === undefined)
      ctx.addIssue({ code: 'custom', path: [name], message: `is missing although features lists ${name}` });
    if (!listed.has(name) && c[name] !== undefined)
      ctx.addIssue({
        code: 'custom',
        path: [name],
        message: `is present although features does not list ${name}`,
      });
  }
  if (Date.parse(c.expiresAt) <= Date.parse(c.issuedAt))
    ctx.addIssue({ code: 'custom', path: ['expiresAt'], message: 'is not after issuedAt' });
});

/**
 * A newer host may list a feature this build does not know and put its data under the feature's
 * name. If that feature is optional we ignore it, so its data is dropped here, before the strict
 * check; any other unexpected key still fails.
 */
function dropUnknownFeatureData(raw: unknown): unknown {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) return raw;
  const features = (raw as { features?: unknown }).features;
  if (!Array.isArray(features)) return raw;
  const kept: Record<string, unknown> = { ...(raw as Record<string, unknown>) };
  for (const name of features) if (typeof name === 'string' && !COOKIE_KEYS.has(name)) delete kept[name];
  return kept;
}

export const CookieSchema = z.preprocess(dropUnknownFeatureData, CookieObject);
export type Cookie = z.infer<typeof CookieSchema>;

/** The top-level keys of a version-1 cookie; a feature may not be named after one of them. */
export function isCookieKey(name: string): boolean {
  return COOKIE_KEYS.has(name);
}

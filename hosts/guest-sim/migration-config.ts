// migrate-set-parameters / migrate-set-capabilities: QEMU 7.2's parameters with their defaults
// (read from qemu-system-x86_64 7.2's query-migrate-parameters) and its capabilities plus
// switchover-ack (QEMU 8.1). Only the ones listed as effective change what the guest does.
import { z } from 'zod';
import { generic } from './errors.ts';

/** QEMU 7.2's query-migrate-parameters on a fresh guest. */
export const DEFAULT_MIGRATION_PARAMETERS = {
  'announce-initial': 50,
  'announce-max': 550,
  'announce-rounds': 5,
  'announce-step': 100,
  'block-incremental': false,
  'compress-level': 1,
  'compress-threads': 8,
  'compress-wait-thread': true,
  'cpu-throttle-increment': 10,
  'cpu-throttle-initial': 20,
  'cpu-throttle-tailslow': false,
  'decompress-threads': 2,
  /** ms the guest may be stopped for the last pass: the switchover threshold. */
  'downtime-limit': 300,
  /** bytes/s (QEMU's MAX_THROTTLE, 128 MiB/s); 0 means unlimited here. */
  'max-bandwidth': 134217728,
  'max-cpu-throttle': 99,
  'max-postcopy-bandwidth': 0,
  'multifd-channels': 2,
  'multifd-compression': 'none',
  'multifd-zlib-level': 1,
  'multifd-zstd-level': 1,
  'throttle-trigger-threshold': 50,
  'tls-authz': '',
  'tls-creds': '',
  'tls-hostname': '',
  'x-checkpoint-delay': 20000,
  'xbzrle-cache-size': 67108864,
};
export type MigrationParameters = typeof DEFAULT_MIGRATION_PARAMETERS;

const nonNegativeInt = z.number().int().min(0).max(Number.MAX_SAFE_INTEGER);
export const setParametersSchema = z.strictObject({
  'announce-initial': nonNegativeInt.optional(),
  'announce-max': nonNegativeInt.optional(),
  'announce-rounds': nonNegativeInt.optional(),
  'announce-step': nonNegativeInt.optional(),
  'block-incremental': z.boolean().optional(),
  'compress-level': z.number().int().min(0).max(9).optional(),
  'compress-threads': z.number().int().min(1).max(255).optional(),
  'compress-wait-thread': z.boolean().optional(),
  'cpu-throttle-increment': z.number().int().min(1).max(99).optional(),
  'cpu-throttle-initial': z.number().int().min(1).max(99).optional(),
  'cpu-throttle-tailslow': z.boolean().optional(),
  'decompress-threads': z.number().int().min(1).max(255).optional(),
  // QEMU: "Parameter 'downtime_limit' expects an integer in the range of 0 to 2000 seconds".
  'downtime-limit': z.number().int().min(0).max(2_000_000).optional(),
  'max-bandwidth': nonNegativeInt.optional(),
  'max-cpu-throttle': z.number().int().min(1).max(99).optional(),
  'max-postcopy-bandwidth': nonNegativeInt.optional(),
  'multifd-channels': z.number().int().min(1).max(255).optional(),
  'multifd-compression': z.enum(['none', 'zlib', 'zstd']).optional(),
  'multifd-zlib-level': z.number().int().min(0).max(9).optional(),
  'multifd-zstd-level': z.number().int().min(0).max(20).optional(),
  'throttle-trigger-threshold': z.number().int().min(1).max(100).optional(),
  'tls-authz': z.string().optional(),
  'tls-creds': z.string().optional(),
  'tls-hostname': z.string().optional(),
  'x-checkpoint-delay': nonNegativeInt.optional(),
  'xbzrle-cache-size': nonNegativeInt.optional(),
});

/** QEMU 7.2's capabilities, in its order, plus switchover-ack from 8.1. */
export const CAPABILITIES = [
  'xbzrle',
  'rdma-pin-all',
  'auto-converge',
  'zero-blocks',
  'compress',
  'events',
  'postcopy-ram',
  'x-colo',
  'release-ram',
  'block',
  'return-path',
  'pause-before-switchover',
  'multifd',
  'dirty-bitmaps',
  'postcopy-blocktime',
  'late-block-activate',
  'x-ignore-shared',
  'validate-uuid',
  'background-snapshot',
  'zero-copy-send',
  'postcopy-preempt',
  'switchover-ack',
] as const;
export type Capability = (typeof CAPABILITIES)[number];

/** The capabilities this guest implements; the others may only be set to false. */
export const EFFECTIVE_CAPABILITIES: ReadonlySet<Capability> = new Set([
  'events',
  'return-path',
  'pause-before-switchover',
  'switchover-ack',
]);

export const setCapabilitiesSchema = z.strictObject({
  capabilities: z.array(z.strictObject({ capability: z.enum(CAPABILITIES), state: z.boolean() })),
});

export function defaultCapabilities(): Record<Capability, boolean> {
  return Object.fromEntries(CAPABILITIES.map((c) => [c, false])) as Record<Capability, boolean>;
}

/** Applies a capability change as a whole, or refuses it as QEMU would (nothing applied). */
export function applyCapabilities(
  current: Record<Capability, boolean>,
  changes: { capability: Capability; state: boolean }[],
): Record<Capability, boolean> {
  const next = { ...current };
  for (const c of changes) {
    if (c.state && !EFFECTIVE_CAPABILITIES.has(c.capability)) {
      throw generic(`Capability '${c.capability}' is not supported by the emulated guest`);
    }
    next[c.capability] = c.state;
  }
  // migrate_caps_check: switchover-ack needs the return path to send its ack on.
  if (next['switchover-ack'] && !next['return-path']) {
    throw generic('Capability switchover-ack requires capability return-path');
  }
  return next;
}

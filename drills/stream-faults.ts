// Faults of the migration stream, on the proxy in front of the destination's data plane: the
// stream cut (a reset) at an offset drawn from a seed, one byte corrupted at an offset, and a slow
// link. Each fires on real bytes of the real stream; the agents are not told.
import { z } from 'zod';
import type { Fault } from './fault.ts';
import { linksOfHost } from './links.ts';
import { FerryError } from '../errors/ferry-error.ts';
import { prng } from './seed.ts';

const MiB = 1024 * 1024;

export class StreamFaultError extends FerryError {
  readonly code = 'DRILL_STREAM_FAULT_FAILED';
}

/** How long an armed cut or corruption waits for the stream to reach its offset. */
export const DEFAULT_ARM_TIMEOUT_MS = 120_000;

const OffsetRange = z
  .object({ min: z.number().int().nonnegative(), max: z.number().int().positive() })
  .refine((r) => r.min <= r.max, 'min must not exceed max');

/** An offset in [min, max] that depends only on the seed. */
export function offsetFromSeed(seed: number, range: { min: number; max: number }): number {
  const r = OffsetRange.parse(range);
  return r.min + Math.floor(prng(seed)() * (r.max - r.min + 1));
}

async function fired<T>(what: Promise<T>, ms: number, message: string, disarm: () => void): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      disarm(); // never left armed for a later, unrelated stream
      reject(new StreamFaultError(message));
    }, ms);
  });
  try {
    return await Promise.race([what, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * The stream to the destination reset once it carried `offset` bytes (drawn from `seed` in
 * 1–32 MiB unless given), counted from the start of the tunnel connection (its header included):
 * injected before the stream starts (at Begin or Prepare) it fires exactly there; injected once
 * the stream is past it, at the next byte. inject() returns when the cut happened.
 */
export function streamCut(
  opts: { seed?: number; offset?: number; range?: { min: number; max: number }; armTimeoutMs?: number } = {},
): Fault & { readonly offset: number } {
  const offset = opts.offset ?? offsetFromSeed(opts.seed ?? 1, opts.range ?? { min: 1 * MiB, max: 32 * MiB });
  return {
    name: 'stream-cut',
    description: `the migration stream to the destination is reset after ${offset} bytes`,
    offset,
    async inject(target) {
      const links = await linksOfHost(target.redis, target.destination);
      const ms = opts.armTimeoutMs ?? DEFAULT_ARM_TIMEOUT_MS;
      await fired(
        links.dataPlane.cutAt(offset),
        ms,
        `stream-cut: the stream of ${target.vm} to ${target.destination} never reached offset ${offset} within ${ms} ms`,
        () => links.dataPlane.disarm(),
      );
    },
  };
}

/**
 * One byte of the stream to the destination flipped at `offset` (as streamCut counts it, and as
 * late); inject() returns once the flipped byte passed.
 */
export function streamCorrupt(
  opts: { seed?: number; offset?: number; range?: { min: number; max: number }; armTimeoutMs?: number } = {},
): Fault & { readonly offset: number } {
  const offset = opts.offset ?? offsetFromSeed(opts.seed ?? 1, opts.range ?? { min: 1 * MiB, max: 32 * MiB });
  return {
    name: 'stream-corrupt',
    description: `one byte of the migration stream to the destination is flipped at offset ${offset}`,
    offset,
    async inject(target) {
      const links = await linksOfHost(target.redis, target.destination);
      const ms = opts.armTimeoutMs ?? DEFAULT_ARM_TIMEOUT_MS;
      await fired(
        links.dataPlane.corruptAt(offset),
        ms,
        `stream-corrupt: the stream of ${target.vm} to ${target.destination} never reached offset ${offset} within ${ms} ms`,
        () => links.dataPlane.disarm(),
      );
    },
  };
}

/**
 * The destination's data plane throttled to `bytesPerSecond` (both ways); healed after
 * `healAfterMs` unless that is null (left slow: the migration must then complete or hit its
 * progress or completion timeout and roll back cleanly).
 */
export function slowLink(opts: { bytesPerSecond?: number; healAfterMs?: number | null } = {}): Fault {
  const rate = z
    .number()
    .int()
    .positive()
    .parse(opts.bytesPerSecond ?? 2 * MiB);
  const healAfterMs = opts.healAfterMs === undefined ? 10_000 : opts.healAfterMs;
  const fault: Fault = {
    name: 'slow-link',
    description: `the destination's data plane throttled to ${(rate / MiB).toFixed(1)} MiB/s${healAfterMs === null ? ', for good' : ` for ${healAfterMs} ms`}`,
    async inject(target) {
      (await linksOfHost(target.redis, target.destination)).dataPlane.throttle(rate);
    },
  };
  if (healAfterMs === null) return fault;
  return {
    ...fault,
    healAfterMs,
    async heal(target) {
      (await linksOfHost(target.redis, target.destination)).dataPlane.throttle(null);
    },
  };
}

export function streamFaults(seed = 1): Fault[] {
  return [streamCut({ seed }), streamCorrupt({ seed: seed + 1 }), slowLink()];
}

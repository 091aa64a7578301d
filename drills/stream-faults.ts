// Faults of the migration stream, on the proxy in front of the destination's data plane: the
// stream cut (a reset) at an offset drawn from a seed, one byte of a page corrupted, and a slow
// link. Each fires on real bytes of the real stream; the agents are not told.
import { z } from 'zod';
import type { Fault } from './fault.ts';
import type { CorruptionChooser } from './link-proxy.ts';
import { linksOfHost } from './links.ts';
import { PageFlipper, type FlipPass, type PageFlip } from './page-flip.ts';
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
 * Where stream-corrupt flipped its byte: in a page it followed the stream to, or (armed once the
 * stream was under way, as `ferry drill` arms it in Perform) at the next byte, unfollowed.
 */
export type StreamFlip = PageFlip | { connectionOffset: number; section: 'unfollowed' };

/**
 * One byte of the stream to the destination flipped inside the data of a RAM page that no later
 * pass sends again (drills/page-flip.ts): by default the first page of the final pass, sent after
 * the source stopped; `pass: 'any'` for a guest paused before the migration. The byte's index in
 * the page (and for `any` which page) comes from `seed`. Such a flip is never healed by a re-sent
 * page nor caught by the parser: only the memory digests at Finish can catch it, so the migration
 * must roll back with Finish's MemoryMismatch. That needs the stream from its first byte, so the
 * fault is injected before the stream starts (Begin or Prepare); injected once it is under way,
 * it cannot tell records apart and flips the next byte, which a later pass may heal or the parser
 * may catch (what `ferry drill`'s verdict for it accepts). inject() returns once the flipped byte
 * passed, and fails if the stream ended without a page that fits.
 */
export function streamCorrupt(
  opts: { seed?: number; pass?: FlipPass; armTimeoutMs?: number } = {},
): Fault & { readonly seed: number; readonly flipped: () => StreamFlip | null } {
  const seed = opts.seed ?? 1;
  const pass = opts.pass ?? 'final';
  let flip: StreamFlip | null = null;
  return {
    name: 'stream-corrupt',
    description: `one byte of a page of the ${pass === 'final' ? 'final pass' : 'stream'} to the destination is flipped (seed ${seed}; armed mid-stream, the next byte)`,
    seed,
    flipped: () => flip,
    async inject(target) {
      const links = await linksOfHost(target.redis, target.destination);
      const ms = opts.armTimeoutMs ?? DEFAULT_ARM_TIMEOUT_MS;
      flip = null;
      // One flipper for the first connection that shows a chunk: the migration's tunnel.
      let connection: number | null = null;
      let flipper: PageFlipper | null = null;
      let missed!: (err: Error) => void;
      const miss = new Promise<never>((_, reject) => (missed = reject));
      const choose: CorruptionChooser = (chunk, offset, conn) => {
        if (connection === null && offset > 0) {
          connection = conn;
          flip = { connectionOffset: offset, section: 'unfollowed' };
          return offset;
        }
        connection ??= conn;
        if (conn !== connection) return undefined;
        flipper ??= new PageFlipper(seed, pass);
        const at = flipper.inspect(chunk);
        if (flipper.chosen) flip = flipper.chosen;
        if (flipper.missed) {
          links.dataPlane.disarm();
          missed(
            new StreamFaultError(`stream-corrupt: ${target.vm} to ${target.destination}: ${flipper.missed}`),
          );
        }
        return at;
      };
      await fired(
        Promise.race([links.dataPlane.corruptWhere(choose), miss]),
        ms,
        `stream-corrupt: the stream of ${target.vm} to ${target.destination} carried no page of the ${pass} pass within ${ms} ms`,
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

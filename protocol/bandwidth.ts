// The range of a migration's bandwidth limit (`--bandwidth`, QEMU's max-bandwidth), checked where
// it enters: the CLI, and the agent's phases (Perform, a change while it runs), which a client
// other than the CLI reaches too.
//
// QEMU 7.2 takes any size for max-bandwidth (bytes per second, a uint64: it even takes -1 as
// 2^64-1), so its own check refuses nothing a caller would send by mistake. ferry sends it from
// JavaScript, where an integer is exact only up to 2^53-1: past that the number QEMU received
// would not be the one asked for. So the limit is the largest MiB/s whose bytes per second are
// still exact; 0 means no limit, as QEMU's own 0 does.
import { z } from 'zod';
import { FerryError } from '../errors/ferry-error.ts';

export const MiB = 1024 * 1024;
/** 8589934591 MiB/s (8 PiB/s): the largest whose bytes per second JSON carries exactly. */
export const MAX_BANDWIDTH_MIBPS = Math.floor(Number.MAX_SAFE_INTEGER / MiB);

const range = `a whole number of MiB/s from 1 to ${MAX_BANDWIDTH_MIBPS}`;

/** `--bandwidth` as typed: at least 1 MiB/s (leave it out for no limit). */
export const BandwidthOptionSchema = z.coerce
  .number({ message: `the bandwidth must be ${range}` })
  .int(`the bandwidth must be ${range}`)
  .min(1, `the bandwidth must be ${range}`)
  .max(MAX_BANDWIDTH_MIBPS, `the bandwidth must be ${range}`);

/** A bandwidth outside what QEMU can be sent exactly reached an agent. */
export class BandwidthRangeError extends FerryError {
  readonly code = 'BandwidthOutOfRange';
}

/**
 * A phase's bandwidth (MiB/s, 0: no limit) in bytes per second for QEMU, or BandwidthRangeError
 * naming what was given and where (`what`: 'max-bandwidth of migration M', for instance).
 */
export function bandwidthBytesPerSec(mibps: number, what: string): number {
  if (!Number.isInteger(mibps) || mibps < 0 || mibps > MAX_BANDWIDTH_MIBPS) {
    throw new BandwidthRangeError(
      `${what}: ${mibps} MiB/s is out of range: 0 (no limit) to ${MAX_BANDWIDTH_MIBPS}`,
    );
  }
  return mibps * MiB;
}

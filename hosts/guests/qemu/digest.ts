// The digest that proves invariant 2 ("memory after migration equals memory at the stop on the
// source") for a real QEMU guest: sha256 over all guest RAM, physical 0 up to memoryMiB.
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { isAbsolute } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { z } from 'zod';
import type { QmpClient } from '../../qmp/client.ts';
import { QemuGuestNotPausedError, QemuPmemsaveError } from './errors.ts';
import { withPhysicalMemory } from './pmem.ts';
import { MAX_MEMORY_MIB, checked } from './spec.ts';

const MIB = 1 << 20;

const rangeSchema = z.object({
  address: z.number().int().min(0),
  size: z
    .number()
    .int()
    .min(1)
    .max(MAX_MEMORY_MIB * MIB),
  scratchDir: z.string().refine(isAbsolute, 'must be an absolute path'),
});

/**
 * sha256 (hex) of the whole RAM of a paused guest. Paused is required, not advised: a running
 * vCPU changes memory while it is being read, and an incoming guest ('inmigrate') has not got
 * all of it yet. On a migration source take it at postmigrate; on the destination before cont.
 */
export async function qemuMemoryDigest(
  qmp: QmpClient,
  memoryMiB: number,
  scratchDir: string,
): Promise<string> {
  const size = checked(z.number().int().min(1).max(MAX_MEMORY_MIB), memoryMiB, 'memoryMiB') * MIB;
  const { status, running } = await qmp.execute('query-status');
  if (running || status === 'inmigrate') throw new QemuGuestNotPausedError(status);
  return qemuRangeDigest(qmp, { address: 0, size }, scratchDir);
}

/** sha256 (hex) of one physical range, paused or not (a running guest gives a moving snapshot). */
export async function qemuRangeDigest(
  qmp: QmpClient,
  range: { address: number; size: number },
  scratchDir: string,
): Promise<string> {
  const r = checked(rangeSchema, { ...range, scratchDir }, 'memory range');
  return withPhysicalMemory(qmp, r, r.scratchDir, async (file) => {
    const { size } = await stat(file);
    // QEMU writes what it can read; a short file would hash to a digest of something else.
    if (size !== r.size) throw new QemuPmemsaveError(`pmemsave wrote ${size} bytes, not ${r.size}`);
    const hash = createHash('sha256');
    await pipeline(createReadStream(file), hash);
    return hash.digest('hex');
  });
}

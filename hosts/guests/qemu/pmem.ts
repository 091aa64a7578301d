// Guest physical memory through QMP pmemsave: QEMU writes the range to a file that we read and
// delete. It works on a running guest too (the bytes are then a moving snapshot).
import { randomUUID } from 'node:crypto';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { QmpClient } from '../../qmp/client.ts';

/** pmemsave writes synchronously in QEMU's main loop: allow ~1 s per 64 MiB on a slow disk. */
function pmemsaveTimeoutMs(size: number): number {
  return 15_000 + Math.ceil(size / (64 << 20)) * 1_000;
}

/** Saves [address, address + size) to a temp file in `scratchDir`, hands it to `use`, removes it. */
export async function withPhysicalMemory<T>(
  qmp: QmpClient,
  range: { address: number; size: number },
  scratchDir: string,
  use: (file: string) => Promise<T>,
): Promise<T> {
  const file = join(scratchDir, `ferry-pmem-${randomUUID()}.bin`);
  try {
    await qmp.execute(
      'pmemsave',
      { val: range.address, size: range.size, filename: file },
      pmemsaveTimeoutMs(range.size),
    );
    return await use(file);
  } finally {
    await rm(file, { force: true });
  }
}

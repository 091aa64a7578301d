import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { qemuMemoryDigest } from '../guests/qemu/digest.ts';
import type { GuestManager } from './guests.ts';

/** sha256 of a guest's memory: the emulated guest's own digest, or QEMU's RAM through pmemsave. */
export async function guestMemoryDigest(guests: GuestManager, vm: string): Promise<string> {
  const def = guests.definition(vm);
  if (def.kind === 'emulated') return (await guests.qmp(vm).execute('x-ferry-digest')).digest;
  const scratch = mkdtempSync(join(tmpdir(), 'ferry-digest-'));
  try {
    return await qemuMemoryDigest(guests.qmp(vm), def.memoryMiB, scratch);
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
}

// The guest program's status block (hosts/qemu-image/layout.ts), read from guest memory: proves
// the guest runs (counters grow) and that its memory is intact as the guest itself sees it.
import { readFile } from 'node:fs/promises';
import type { QmpClient } from '../../qmp/client.ts';
import {
  STATUS_ADDRESS,
  STATUS_MAGIC,
  STATUS_OFFSETS as at,
  STATUS_SIZE,
  STATUS_VERSION,
} from '../../qemu-image/layout.ts';
import { QemuGuestStatusError } from './errors.ts';
import { withPhysicalMemory } from './pmem.ts';

export interface QemuGuestProgress {
  /** Completed passes over the working set. */
  passes: number;
  /** Pages written since boot; grows between two reads of a running guest. */
  pagesWritten: number;
  /** Pages that did not hold what the guest wrote there on the last pass: must stay 0. */
  errors: number;
  lastErrorAddress: number;
  /** 0x2badb002 when a Multiboot loader started the guest. */
  bootMagic: number;
  workingSetBase: number;
  workingSetBytes: number;
  delay: number;
  memUpperKiB: number;
  /** 1 when the guest drops its TLB entries after each write (see guest.s). */
  flush: number;
}

export async function readQemuGuestProgress(qmp: QmpClient, scratchDir: string): Promise<QemuGuestProgress> {
  const bytes = await withPhysicalMemory(
    qmp,
    { address: STATUS_ADDRESS, size: STATUS_SIZE },
    scratchDir,
    (f) => readFile(f),
  );
  return parseQemuGuestStatus(bytes);
}

export function parseQemuGuestStatus(block: Buffer): QemuGuestProgress {
  if (block.length < STATUS_SIZE) {
    throw new QemuGuestStatusError(`status block is ${block.length} bytes, expected ${STATUS_SIZE}`);
  }
  const magic = block.toString('latin1', at.magic, at.magic + STATUS_MAGIC.length);
  if (magic !== STATUS_MAGIC) {
    throw new QemuGuestStatusError(
      `no ferry guest status at 0x${STATUS_ADDRESS.toString(16)} (found ${JSON.stringify(magic)})`,
      { hint: 'the guest must boot hosts/qemu-image (buildGuestImage) and have been started' },
    );
  }
  const version = block.readUInt32LE(at.version);
  if (version !== STATUS_VERSION) {
    throw new QemuGuestStatusError(`status block version ${version}, this driver reads ${STATUS_VERSION}`);
  }
  const u32 = (offset: number) => block.readUInt32LE(offset);
  return {
    passes: u32(at.passes),
    pagesWritten: Number(block.readBigUInt64LE(at.pagesWritten)),
    errors: u32(at.errors),
    lastErrorAddress: u32(at.lastErrorAddress),
    bootMagic: u32(at.bootMagic),
    workingSetBase: u32(at.workingSetBase),
    workingSetBytes: u32(at.workingSetBytes),
    delay: u32(at.delay),
    memUpperKiB: u32(at.memUpperKiB),
    flush: u32(at.flush),
  };
}

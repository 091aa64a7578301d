// What QEMU's Multiboot loader needs from the image, checked at build time so that a broken
// image fails with a clear error here instead of a guest that silently never boots.
import { GuestImageBuildError } from './errors.ts';
import { STATUS_ADDRESS } from './layout.ts';

const MULTIBOOT_HEADER_MAGIC = 0x1badb002;
/** The loader searches the first 8 KiB of the file, at 4-byte alignment. */
const MULTIBOOT_SEARCH_BYTES = 8192;
const ELFCLASS32 = 1;
const EM_386 = 3;

/** Throws GuestImageBuildError unless `elf` is a 32-bit x86 ELF with a valid Multiboot header. */
export function checkImage(elf: Buffer, nmOutput: string): void {
  if (elf.length < 52 || elf.readUInt32BE(0) !== 0x7f454c46) fail('not an ELF file');
  if (elf[4] !== ELFCLASS32 || elf.readUInt16LE(18) !== EM_386) fail('not a 32-bit x86 ELF');
  if (!hasMultibootHeader(elf)) fail('no Multiboot header in the first 8 KiB');
  const status = /^([0-9a-f]+) [A-Za-z] status$/m.exec(nmOutput);
  if (!status || Number.parseInt(status[1]!, 16) !== STATUS_ADDRESS) {
    fail(`symbol 'status' is not at 0x${STATUS_ADDRESS.toString(16)} (layout.ts and guest.ld disagree)`);
  }
}

export function hasMultibootHeader(elf: Buffer): boolean {
  const end = Math.min(elf.length, MULTIBOOT_SEARCH_BYTES) - 12;
  for (let at = 0; at <= end; at += 4) {
    if (elf.readUInt32LE(at) !== MULTIBOOT_HEADER_MAGIC) continue;
    const flags = elf.readUInt32LE(at + 4);
    const checksum = elf.readUInt32LE(at + 8);
    if ((MULTIBOOT_HEADER_MAGIC + flags + checksum) % 2 ** 32 === 0) return true;
  }
  return false;
}

function fail(message: string): never {
  throw new GuestImageBuildError(`guest image: ${message}`);
}

// Where the guest program keeps what the host reads, and how it is laid out. Must match the
// `.status` section of guest.s; the builder checks the address against the linked image.

/** Physical address of the status block (linker script guest.ld). */
export const STATUS_ADDRESS = 0x101000;
/** Bytes of the status block the host reads. */
export const STATUS_SIZE = 60;
/** First 8 bytes of the block: proves the address is right and the guest is ours. */
export const STATUS_MAGIC = 'FERRYGST';
export const STATUS_VERSION = 1;
/** What a Multiboot loader leaves in eax; the guest records what it found. */
export const MULTIBOOT_BOOT_MAGIC = 0x2badb002;
/** Where the working set starts: above the image and QEMU's Multiboot info. */
export const WORKING_SET_BASE = 0x200000;
export const DEFAULT_WORKING_SET_MIB = 8;

/** Byte offsets inside the block (little-endian u32 unless noted). */
export const STATUS_OFFSETS = {
  magic: 0,
  version: 8,
  bootMagic: 12,
  passes: 16,
  /** u64 */
  pagesWritten: 20,
  errors: 28,
  lastErrorAddress: 32,
  workingSetBase: 36,
  workingSetBytes: 40,
  delay: 44,
  memUpperKiB: 48,
  requestedWorkingSetMiB: 52,
  flush: 56,
} as const;

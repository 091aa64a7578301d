// QEMU's migration stream constants (migration/savevm.h and migration/ram.c, QEMU 7.2).
// The numbers are the wire format: change none of them.

export const QEMU_VM_FILE_MAGIC = 0x5145564d; // "QEVM"
export const QEMU_VM_FILE_VERSION_COMPAT = 0x00000002;
export const QEMU_VM_FILE_VERSION = 0x00000003;

export const QEMU_VM_EOF = 0x00;
export const QEMU_VM_SECTION_START = 0x01;
export const QEMU_VM_SECTION_PART = 0x02;
export const QEMU_VM_SECTION_END = 0x03;
export const QEMU_VM_SECTION_FULL = 0x04;
export const QEMU_VM_SUBSECTION = 0x05;
export const QEMU_VM_VMDESCRIPTION = 0x06;
export const QEMU_VM_CONFIGURATION = 0x07;
export const QEMU_VM_COMMAND = 0x08;
export const QEMU_VM_SECTION_FOOTER = 0x7e;

/** x86's TARGET_PAGE_SIZE: the unit of every RAM record, and why RAM flags fit in the low 12 bits. */
export const PAGE_SIZE = 4096;
export const PAGE_MASK_BITS = 0xfff;

// RAM record flags, OR-ed into the low bits of the page address.
export const RAM_SAVE_FLAG_FULL = 0x01; // obsolete since QEMU 1.x
export const RAM_SAVE_FLAG_ZERO = 0x02;
export const RAM_SAVE_FLAG_MEM_SIZE = 0x04;
export const RAM_SAVE_FLAG_PAGE = 0x08;
export const RAM_SAVE_FLAG_EOS = 0x10;
export const RAM_SAVE_FLAG_CONTINUE = 0x20;
export const RAM_SAVE_FLAG_XBZRLE = 0x40;
export const RAM_SAVE_FLAG_HOOK = 0x80; // RDMA
export const RAM_SAVE_FLAG_COMPRESS_PAGE = 0x100;
export const RAM_SAVE_FLAG_MULTIFD_FLUSH = 0x200; // QEMU >= 8.0

/** Flags that are real QEMU encodings this codec deliberately does not decode. */
export const UNSUPPORTED_RAM_FLAGS: ReadonlyArray<readonly [number, string]> = [
  [RAM_SAVE_FLAG_FULL, 'full (obsolete)'],
  [RAM_SAVE_FLAG_XBZRLE, 'xbzrle'],
  [RAM_SAVE_FLAG_HOOK, 'rdma hook'],
  [RAM_SAVE_FLAG_COMPRESS_PAGE, 'compressed page'],
  [RAM_SAVE_FLAG_MULTIFD_FLUSH, 'multifd flush'],
];

/** QEMU_VM_COMMAND ids (migration/savevm.c enum qemu_vm_cmd) and their fixed lengths (-1: variable). */
export const MIG_COMMANDS: ReadonlyMap<number, { name: string; length: number }> = new Map([
  [1, { name: 'open-return-path', length: 0 }],
  [2, { name: 'ping', length: 4 }],
  [3, { name: 'postcopy-advise', length: -1 }],
  [4, { name: 'postcopy-listen', length: 0 }],
  [5, { name: 'postcopy-run', length: 0 }],
  [6, { name: 'postcopy-ram-discard', length: -1 }],
  [7, { name: 'postcopy-resume', length: 0 }],
  [8, { name: 'packaged', length: 4 }],
  [9, { name: 'recv-bitmap', length: -1 }],
  [10, { name: 'enable-colo', length: 0 }],
  [11, { name: 'switchover-start', length: 0 }],
]);
export const MIG_CMD_PACKAGED = 8;
export const MIG_CMD_POSTCOPY_ADVISE = 3;
/** QEMU refuses bigger packages (MAX_VM_CMD_PACKAGED_SIZE). */
export const MAX_PACKAGED_BYTES = 1 << 24;

/** Bounds that turn garbage lengths into typed errors instead of huge allocations or endless scans. */
export const DEFAULT_LIMITS = {
  /** Machine type names are short ("pc-i440fx-7.2"); QEMU itself caps nothing, so stay generous. */
  maxMachineNameBytes: 256,
  /** The JSON device description of a big q35 guest is a few hundred KiB. */
  maxDescriptionBytes: 16 * 1024 * 1024,
  /** Device state is small (registers, queues); guest memory travels in RAM blocks, not here. */
  maxDeviceSectionBytes: 64 * 1024 * 1024,
  maxRamBlocks: 4096,
  /** 16 TiB: anything above is a corrupt length, not a guest. */
  maxRamBytes: 2 ** 44,
};
export type SavevmLimits = typeof DEFAULT_LIMITS;

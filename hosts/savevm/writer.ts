// Writes a savevm stream the way QEMU 7.2 does for a precopy migration, so that a real QEMU (or
// ferry's parser) can load it: header, configuration, RAM START with the block list, any number
// of RAM PART passes, RAM END, device FULL sections with footers, EOF, device description.
// Output is coalesced into chunks handed to `out`; nothing is kept once handed over.
import {
  PAGE_SIZE,
  QEMU_VM_CONFIGURATION,
  QEMU_VM_EOF,
  QEMU_VM_FILE_MAGIC,
  QEMU_VM_FILE_VERSION,
  QEMU_VM_SECTION_END,
  QEMU_VM_SECTION_FOOTER,
  QEMU_VM_SECTION_FULL,
  QEMU_VM_SECTION_PART,
  QEMU_VM_SECTION_START,
  QEMU_VM_VMDESCRIPTION,
  RAM_SAVE_FLAG_CONTINUE,
  RAM_SAVE_FLAG_EOS,
  RAM_SAVE_FLAG_MEM_SIZE,
  RAM_SAVE_FLAG_PAGE,
  RAM_SAVE_FLAG_ZERO,
} from './constants.ts';
import type { RamBlock } from './events.ts';
import { OutputBuffer } from './output-buffer.ts';

export interface DeviceState {
  idstr: string;
  instanceId: number;
  versionId: number;
  /** The device's vmstate bytes, opaque to the codec. */
  data: Buffer;
}

export interface SavevmWriterOptions {
  /** Machine type for QEMU_VM_CONFIGURATION; null writes none, as machine types before 2.5 do. */
  machine: string | null;
  blocks: RamBlock[];
  /** Section footers, on for every machine type since 2.4. */
  footers?: boolean;
  /** Append the JSON device description after EOF, as QEMU does (default true). */
  description?: boolean;
  /** Size of the chunks handed to `out` (default 256 KiB). */
  chunkBytes?: number;
}

type State = 'new' | 'header' | 'ram-started' | 'in-ram' | 'ram-ended' | 'closed';
type Action = 'header' | 'ramStart' | 'ramSection' | 'page' | 'endRamSection' | 'device' | 'eof';

/** Which writer calls are valid in which state: the stream's grammar, enforced. */
const TRANSITIONS: Record<State, Partial<Record<Action, State>>> = {
  new: { header: 'header' },
  header: { ramStart: 'ram-started', device: 'ram-ended', eof: 'closed' },
  'ram-started': { ramSection: 'in-ram', device: 'ram-ended', eof: 'closed' },
  'in-ram': { page: 'in-ram', endRamSection: 'ram-started' },
  'ram-ended': { device: 'ram-ended', eof: 'closed' },
  closed: {},
};

const RAM_SECTION_ID = 0;
const RAM_VERSION_ID = 4; // ram_mig_init's version in QEMU 7.2
const ZERO_PAGE = Buffer.alloc(PAGE_SIZE);

export class SavevmWriter {
  private state: State = 'new';
  private readonly o: OutputBuffer;
  private readonly blocks: Map<string, RamBlock>;
  private readonly footers: boolean;
  private readonly devices: DeviceState[] = [];
  private lastBlock: string | null = null;
  private section: { id: number; end: boolean } | null = null;
  private nextSectionId = RAM_SECTION_ID + 1;

  constructor(
    private readonly options: SavevmWriterOptions,
    out: (chunk: Buffer) => void,
  ) {
    this.o = new OutputBuffer(out, Math.max(64, options.chunkBytes ?? 256 * 1024));
    this.blocks = new Map(options.blocks.map((b) => [b.id, b]));
    this.footers = options.footers ?? true;
    for (const b of options.blocks) {
      if (b.length % PAGE_SIZE !== 0 || b.length <= 0)
        throw new RangeError(`RAM block ${b.id}: length must be whole pages`);
    }
  }

  /** Bytes written so far (handed to `out` or buffered). */
  get bytesWritten(): number {
    return this.o.written;
  }

  /** Magic, version and configuration. */
  header(): this {
    this.go('header');
    this.o.u32(QEMU_VM_FILE_MAGIC).u32(QEMU_VM_FILE_VERSION);
    if (this.options.machine !== null) {
      const name = Buffer.from(this.options.machine, 'latin1');
      this.o.u8(QEMU_VM_CONFIGURATION).u32(name.length).bytes(name);
    }
    return this;
  }

  /** The RAM START section: announces the blocks (RAM_SAVE_FLAG_MEM_SIZE) and carries no pages. */
  ramStart(): this {
    this.go('ramStart');
    this.sectionHeader(QEMU_VM_SECTION_START, RAM_SECTION_ID, 'ram', 0, RAM_VERSION_ID);
    const total = this.options.blocks.reduce((sum, b) => sum + b.length, 0);
    this.o.u64(total + RAM_SAVE_FLAG_MEM_SIZE);
    for (const b of this.options.blocks) this.o.idstr(b.id).u64(b.length);
    this.o.u64(RAM_SAVE_FLAG_EOS);
    this.footer(RAM_SECTION_ID);
    return this;
  }

  /** Opens a RAM PART (one precopy pass) or, with `final`, the RAM END sent after the guest stops. */
  ramSection(final = false): this {
    this.go('ramSection');
    this.o.u8(final ? QEMU_VM_SECTION_END : QEMU_VM_SECTION_PART).u32(RAM_SECTION_ID);
    this.section = { id: RAM_SECTION_ID, end: final };
    this.lastBlock = null; // name the block again in each section, as a fresh sender would
    return this;
  }

  /** One page of the open RAM section; `null` or an all-zero page is sent as a zero-page record. */
  page(blockId: string, address: number, data: Buffer | null): this {
    this.go('page');
    const block = this.blocks.get(blockId);
    if (!block) throw new RangeError(`page of unknown RAM block ${blockId}`);
    if (address % PAGE_SIZE !== 0 || address < 0 || address + PAGE_SIZE > block.length) {
      throw new RangeError(`page address ${address} is not a page of block ${blockId}`);
    }
    if (data !== null && data.length !== PAGE_SIZE) throw new RangeError(`a page is ${PAGE_SIZE} bytes`);
    const zero = data === null || data.equals(ZERO_PAGE);
    let flags = zero ? RAM_SAVE_FLAG_ZERO : RAM_SAVE_FLAG_PAGE;
    if (this.lastBlock === blockId) flags |= RAM_SAVE_FLAG_CONTINUE;
    this.o.u64(address + flags);
    if (this.lastBlock !== blockId) this.o.idstr(blockId);
    this.lastBlock = blockId;
    if (zero) this.o.u8(0);
    else this.o.bytes(data);
    return this;
  }

  /** Closes the open RAM section (EOS and footer). */
  endRamSection(): this {
    this.go('endRamSection');
    const section = this.section!;
    this.o.u64(RAM_SAVE_FLAG_EOS);
    this.footer(section.id);
    if (section.end) this.state = 'ram-ended';
    this.section = null;
    return this;
  }

  /** One device's state as a FULL section with its footer. */
  device(state: DeviceState): this {
    this.go('device');
    const id = this.nextSectionId++;
    this.sectionHeader(QEMU_VM_SECTION_FULL, id, state.idstr, state.instanceId, state.versionId);
    this.o.bytes(state.data);
    this.footer(id);
    this.devices.push(state);
    return this;
  }

  /** QEMU_VM_EOF, then the device description; flushes everything to `out`. */
  eof(): this {
    this.go('eof');
    this.o.u8(QEMU_VM_EOF);
    if (this.options.description ?? true) {
      const json = Buffer.from(JSON.stringify(this.describe()), 'utf8');
      this.o.u8(QEMU_VM_VMDESCRIPTION).u32(json.length).bytes(json);
    }
    this.o.flush();
    return this;
  }

  /** Hands buffered bytes to `out` now (e.g. before waiting for the consumer). */
  flush(): this {
    this.o.flush();
    return this;
  }

  private describe(): object {
    return {
      page_size: PAGE_SIZE,
      devices: this.devices.map((d) => ({
        name: d.idstr,
        instance_id: d.instanceId,
        vmsd_name: d.idstr,
        version: d.versionId,
        // The shape QEMU uses for devices saved without a vmstate description: one opaque field.
        fields: [{ name: 'data', type: 'buffer', size: d.data.length }],
      })),
    };
  }

  private sectionHeader(
    type: number,
    id: number,
    idstr: string,
    instanceId: number,
    versionId: number,
  ): void {
    this.o.u8(type).u32(id);
    if (type === QEMU_VM_SECTION_START || type === QEMU_VM_SECTION_FULL) {
      this.o.idstr(idstr).u32(instanceId).u32(versionId);
    }
  }

  private footer(id: number): void {
    if (this.footers) this.o.u8(QEMU_VM_SECTION_FOOTER).u32(id);
  }

  private go(action: Action): void {
    const next = TRANSITIONS[this.state][action];
    if (next === undefined) throw new Error(`savevm writer: ${action}() is not valid after ${this.state}`);
    this.state = next;
  }
}

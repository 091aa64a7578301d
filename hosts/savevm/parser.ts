// The streaming parser: push chunks of any size, get typed events. Parsing is one generator that
// reads the stream front to back and pauses wherever it needs bytes not yet pushed, so a chunk
// boundary can fall anywhere (one byte at a time gives the same events) and only the bytes of
// the item being decoded are held.
import {
  DEFAULT_LIMITS,
  MAX_PACKAGED_BYTES,
  MIG_CMD_PACKAGED,
  MIG_CMD_POSTCOPY_ADVISE,
  MIG_COMMANDS,
  QEMU_VM_COMMAND,
  QEMU_VM_CONFIGURATION,
  QEMU_VM_EOF,
  QEMU_VM_FILE_MAGIC,
  QEMU_VM_FILE_VERSION,
  QEMU_VM_FILE_VERSION_COMPAT,
  QEMU_VM_SECTION_END,
  QEMU_VM_SECTION_FOOTER,
  QEMU_VM_SECTION_FULL,
  QEMU_VM_SECTION_PART,
  QEMU_VM_SECTION_START,
  QEMU_VM_SUBSECTION,
  QEMU_VM_VMDESCRIPTION,
} from './constants.ts';
import type { SavevmLimits } from './constants.ts';
import { configuration } from './configuration.ts';
import { ParseContext, hex } from './context.ts';
import type { Step } from './context.ts';
import { deviceBody } from './device.ts';
import { description } from './vmdescription.ts';
import { SavevmError } from './errors.ts';
import type { PageRecord, RamProgress, RamSectionKind, SavevmEvent } from './events.ts';
import { ramBody } from './ram.ts';

export interface SavevmParserOptions {
  /** Called for every RAM page record, with the payload as a view where possible. */
  onPage?: (page: PageRecord) => void;
  limits?: Partial<SavevmLimits>;
  /** Refuse a stream whose device sections disagree with its device description (default true). */
  verifyDescription?: boolean;
}

export class SavevmParser {
  private readonly ctx: ParseContext;
  private readonly steps: Step;
  private failure: Error | null = null;
  private finished = false;

  constructor(options: SavevmParserOptions = {}) {
    this.ctx = new ParseContext(
      { ...DEFAULT_LIMITS, ...options.limits },
      options.onPage,
      options.verifyDescription ?? true,
    );
    this.steps = stream(this.ctx);
  }

  /** Bytes consumed so far. */
  get offset(): number {
    return this.ctx.q.offset;
  }

  /** The RAM section being read, if any: how far a stream that broke inside it got. */
  get current(): { offset: number; idstr: string; section: RamSectionKind; ram: RamProgress } | null {
    const c = this.ctx.current;
    return c && { offset: c.offset, idstr: c.idstr, section: c.section, ram: { ...c.ram } };
  }

  /** The stream has been read to its end (after QEMU_VM_EOF and any description). */
  get done(): boolean {
    return this.finished;
  }

  /** Feeds bytes; returns the events they completed. Throws SavevmError on bad input. */
  push(chunk: Buffer): SavevmEvent[] {
    this.ctx.q.push(chunk);
    return this.run();
  }

  /** Declares the end of the stream; throws SavevmError if it ended too early. */
  end(): SavevmEvent[] {
    this.ctx.q.ended = true;
    return this.run();
  }

  private run(): SavevmEvent[] {
    if (this.failure !== null) throw this.failure;
    try {
      if (!this.finished && this.steps.next().done === true) this.finished = true;
    } catch (err) {
      this.failure = err instanceof Error ? err : new Error(String(err));
      throw this.failure;
    }
    if (this.finished && this.ctx.q.available > 0) {
      this.failure = new SavevmError(
        'SAVEVM_TRAILING_DATA',
        this.ctx.q.offset,
        'bytes after the end of the stream',
      );
      throw this.failure;
    }
    return this.ctx.events.splice(0);
  }
}

function* stream(ctx: ParseContext): Step {
  const q = ctx.q;
  yield* ctx.need(8, 'the file header', 0);
  const magic = q.u32();
  if (magic !== QEMU_VM_FILE_MAGIC) {
    ctx.fail(
      'SAVEVM_BAD_MAGIC',
      0,
      `not a QEMU migration stream: magic ${hex(magic)}, expected ${hex(QEMU_VM_FILE_MAGIC)} ("QEVM")`,
    );
  }
  const version = q.u32();
  if (version !== QEMU_VM_FILE_VERSION) {
    ctx.fail(
      'SAVEVM_UNSUPPORTED_VERSION',
      4,
      version === QEMU_VM_FILE_VERSION_COMPAT
        ? 'stream format version 2 (QEMU before 0.13) is not supported; ferry reads version 3'
        : `unknown stream format version ${version}; ferry reads version 3`,
    );
  }
  ctx.emit({ type: 'header', offset: 0, bytes: 8, version });

  if ((yield* ctx.more()) && q.peek(0) === QEMU_VM_CONFIGURATION) {
    q.skip(1);
    yield* configuration(ctx, 8);
  }
  for (;;) {
    const at = q.offset;
    yield* ctx.need(1, 'a section header', at);
    const type = q.u8();
    switch (type) {
      case QEMU_VM_SECTION_START:
      case QEMU_VM_SECTION_FULL:
        yield* startOrFull(ctx, type, at);
        break;
      case QEMU_VM_SECTION_PART:
      case QEMU_VM_SECTION_END:
        yield* partOrEnd(ctx, type, at);
        break;
      case QEMU_VM_COMMAND:
        yield* command(ctx, at);
        break;
      case QEMU_VM_EOF:
        ctx.emit({ type: 'eof', offset: at });
        yield* afterEof(ctx);
        return;
      default:
        ctx.fail('SAVEVM_UNKNOWN_SECTION_TYPE', at, unknownType(type));
    }
  }
}

function unknownType(type: number): string {
  switch (type) {
    case QEMU_VM_CONFIGURATION:
      return 'a configuration section after the first section (QEMU sends it once, right after the header)';
    case QEMU_VM_SUBSECTION:
      return 'a subsection marker outside any section';
    case QEMU_VM_VMDESCRIPTION:
      return 'a device description before QEMU_VM_EOF (QEMU sends it after)';
    case QEMU_VM_SECTION_FOOTER:
      return 'a section footer where a section should start (a device section was mis-delimited?)';
    default:
      return `unknown section type ${hex(type)}`;
  }
}

function* startOrFull(ctx: ParseContext, type: number, at: number): Step {
  const q = ctx.q;
  yield* ctx.need(5, 'a section header', at);
  const sectionId = q.u32();
  const idstr = yield* ctx.idstr('a section header', at);
  yield* ctx.need(8, 'a section header', at);
  const instanceId = q.u32();
  const versionId = q.u32();
  if (idstr.length === 0) ctx.fail('SAVEVM_UNKNOWN_SECTION', at, `section ${sectionId} has an empty idstr`);
  if (type === QEMU_VM_SECTION_FULL) {
    const deviceBytes = yield* deviceBody(ctx, sectionId, idstr, at);
    const event = {
      type: 'section-full' as const,
      offset: at,
      bytes: q.offset - at,
      sectionId,
      idstr,
      footer: true,
      instanceId,
      versionId,
      deviceBytes,
    };
    ctx.fullIds.add(sectionId);
    ctx.fulls.push(event);
    ctx.emit(event);
    return;
  }
  if (idstr !== 'ram') {
    ctx.fail(
      'SAVEVM_UNSUPPORTED_SECTION',
      at,
      `iterable section '${idstr}' (block migration, dirty bitmaps, vfio...) is not decoded; ferry reads 'ram' only`,
    );
  }
  ctx.iterables.set(sectionId, idstr);
  const body = yield* ramBody(ctx, idstr, at, 'start');
  const footer = yield* sectionFooter(ctx, sectionId, idstr);
  ctx.emit({
    type: 'section-start',
    offset: at,
    bytes: q.offset - at,
    sectionId,
    idstr,
    footer,
    instanceId,
    versionId,
    ram: body.ram,
    blocks: body.blocks,
  });
}

function* partOrEnd(ctx: ParseContext, type: number, at: number): Step {
  const q = ctx.q;
  yield* ctx.need(4, 'a section header', at);
  const sectionId = q.u32();
  const idstr = ctx.iterables.get(sectionId);
  if (idstr === undefined) {
    ctx.fail(
      'SAVEVM_UNKNOWN_SECTION',
      at,
      `${type === QEMU_VM_SECTION_PART ? 'PART' : 'END'} of section ${sectionId}, which never started`,
    );
  }
  const { ram } = yield* ramBody(ctx, idstr, at, type === QEMU_VM_SECTION_PART ? 'part' : 'end');
  const footer = yield* sectionFooter(ctx, sectionId, idstr);
  const common = { offset: at, bytes: q.offset - at, sectionId, idstr, footer, ram };
  ctx.emit(
    type === QEMU_VM_SECTION_PART ? { type: 'section-part', ...common } : { type: 'section-end', ...common },
  );
}

/** Reads the footer of an iterable section; the first one tells whether this stream has footers. */
function* sectionFooter(ctx: ParseContext, sectionId: number, idstr: string): Step<boolean> {
  const q = ctx.q;
  if (ctx.footers === 'off') return false;
  const at = q.offset;
  yield* ctx.need(1, `the footer of section '${idstr}'`, at);
  if (ctx.footers === 'unknown') ctx.footers = q.peek(0) === QEMU_VM_SECTION_FOOTER ? 'on' : 'off';
  if (ctx.footers === 'off') return false;
  yield* ctx.need(5, `the footer of section '${idstr}'`, at);
  const marker = q.u8();
  const id = q.u32();
  if (marker !== QEMU_VM_SECTION_FOOTER || id !== sectionId) {
    ctx.fail(
      'SAVEVM_BAD_FOOTER',
      at,
      marker !== QEMU_VM_SECTION_FOOTER
        ? `section '${idstr}' (${sectionId}) should end with footer ${hex(QEMU_VM_SECTION_FOOTER)}, found ${hex(marker)}`
        : `footer of section '${idstr}' names section ${id}, expected ${sectionId}`,
    );
  }
  return true;
}

function* command(ctx: ParseContext, at: number): Step {
  const q = ctx.q;
  yield* ctx.need(4, 'a command', at);
  const id = q.u16();
  const length = q.u16();
  const known = MIG_COMMANDS.get(id);
  if (!known) ctx.fail('SAVEVM_BAD_COMMAND', at, `unknown command ${id}`);
  if (known.length >= 0 && known.length !== length) {
    ctx.fail('SAVEVM_BAD_COMMAND', at, `command ${known.name} of ${length} bytes, expected ${known.length}`);
  }
  yield* ctx.need(length, `command ${known.name}`, at);
  const data = q.take(length);
  if (id === MIG_CMD_POSTCOPY_ADVISE) ctx.postcopyAdvised = true;
  let packagedBytes = 0;
  if (id === MIG_CMD_PACKAGED) {
    // The package is a nested stream for postcopy; it is passed over, not parsed.
    packagedBytes = data.readUInt32BE(0);
    if (packagedBytes > MAX_PACKAGED_BYTES) {
      ctx.fail(
        'SAVEVM_LENGTH_OUT_OF_BOUNDS',
        at,
        `packaged command of ${packagedBytes} bytes (QEMU's limit is ${MAX_PACKAGED_BYTES})`,
      );
    }
    let left = packagedBytes;
    while (left > 0) {
      yield* ctx.need(1, 'a packaged command', at);
      const n = Math.min(left, q.available);
      q.skip(n);
      left -= n;
    }
  }
  ctx.emit({
    type: 'command',
    offset: at,
    bytes: q.offset - at,
    command: id,
    name: known.name,
    length,
    packagedBytes,
  });
}

/** After QEMU_VM_EOF QEMU may append its device description; nothing else may follow. */
function* afterEof(ctx: ParseContext): Step {
  const q = ctx.q;
  if (!(yield* ctx.more())) return;
  const at = q.offset;
  if (q.peek(0) !== QEMU_VM_VMDESCRIPTION)
    ctx.fail('SAVEVM_TRAILING_DATA', at, 'bytes after QEMU_VM_EOF that are not a device description');
  q.skip(1);
  yield* description(ctx, at);
  if (yield* ctx.more()) ctx.fail('SAVEVM_TRAILING_DATA', q.offset, 'bytes after the device description');
}

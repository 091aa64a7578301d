import { ByteQueue } from './byte-queue.ts';
import type { SavevmLimits } from './constants.ts';
import { SavevmError } from './errors.ts';
import type {
  PageRecord,
  RamBlock,
  RamProgress,
  RamSectionKind,
  SavevmEvent,
  SectionFullEvent,
} from './events.ts';

/** A parsing step: yields when it needs bytes that have not been pushed yet. */
export type Step<T = void> = Generator<void, T, void>;

/** Whether sections end with QEMU_VM_SECTION_FOOTER; learnt from the first RAM section. */
export type FooterMode = 'unknown' | 'on' | 'off';

/** Everything the parsing steps share: the bytes, the limits and what the stream has said so far. */
export class ParseContext {
  readonly q = new ByteQueue();
  readonly events: SavevmEvent[] = [];
  footers: FooterMode = 'unknown';
  /** RAM blocks by id, from the last RAM_SAVE_FLAG_MEM_SIZE record. */
  blocks = new Map<string, RamBlock>();
  /** The block of the previous page record: RAM_SAVE_FLAG_CONTINUE refers to it, across sections. */
  lastBlock: RamBlock | null = null;
  /** Iterable sections (START seen) by section id. */
  readonly iterables = new Map<number, string>();
  /** Device sections so far, to check against the trailing device description. */
  readonly fulls: SectionFullEvent[] = [];
  readonly fullIds = new Set<number>();
  /** The RAM section being read, so a failure can say how far into it the stream got. */
  current: { offset: number; idstr: string; section: RamSectionKind; ram: RamProgress } | null = null;
  ignoreShared = false;
  postcopyAdvised = false;

  constructor(
    readonly limits: SavevmLimits,
    readonly onPage: ((page: PageRecord) => void) | undefined,
    readonly verifyDescription: boolean,
  ) {}

  emit(event: SavevmEvent): void {
    this.events.push(event);
  }

  /** Waits until `n` bytes are available; a stream that ends first is truncated. */
  *need(n: number, what: string, startedAt: number): Step {
    while (this.q.available < n) {
      if (this.q.ended) {
        const end = this.q.offset + this.q.available;
        throw new SavevmError(
          'SAVEVM_TRUNCATED',
          startedAt,
          `stream ends at byte ${end} inside ${what} that starts at byte ${startedAt}`,
          { hint: 'the sender stopped mid-stream: check the source side for the first error' },
        );
      }
      yield;
    }
  }

  /** Waits for one more byte or the end of the stream; true if a byte is there. */
  *more(): Step<boolean> {
    while (this.q.available === 0) {
      if (this.q.ended) return false;
      yield;
    }
    return true;
  }

  /** Reads a length-prefixed (one byte) string such as an idstr. */
  *idstr(what: string, startedAt: number): Step<string> {
    if (this.q.available < 1) yield* this.need(1, what, startedAt);
    const len = this.q.u8();
    if (this.q.available < len) yield* this.need(len, what, startedAt);
    return this.q.take(len).toString('latin1');
  }

  fail(code: ConstructorParameters<typeof SavevmError>[0], offset: number, message: string): never {
    throw new SavevmError(code, offset, message);
  }
}

/** A 64-bit big-endian value as a JS number, or -1 when it does not fit in 53 bits. */
export function toSafeNumber(hi: number, lo: number): number {
  if (hi >= 0x200000) return -1;
  return hi * 0x100000000 + lo;
}

export function hex(n: number): string {
  return `0x${n.toString(16)}`;
}

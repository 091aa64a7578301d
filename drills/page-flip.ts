// Where a flipped byte of the migration stream must fall for the migration to fail for one reason
// only: inside the data of a RAM page that no later pass sends again. A byte flipped at a bare
// offset can hit a record's header (the parser refuses the stream in Perform) or a page the guest
// dirties again (a later pass sends it clean and the migration completes): a test that accepts
// either outcome passes whatever the agents do. This follows the stream a tunnel connection
// carries (the tunnel's header frame, then the savevm stream) with ferry's own parser, and picks
// a byte of a page of the final pass (sent after the source stopped), or, for a guest that was
// paused before the migration and so sends each page once, of the k-th page.
import { PAGE_SIZE } from '../hosts/savevm/constants.ts';
import type { RamSectionKind } from '../hosts/savevm/events.ts';
import { SavevmParser } from '../hosts/savevm/parser.ts';
import { FRAME_MAGIC } from '../hosts/tunnel/frame.ts';
import { prng } from './seed.ts';

/**
 * `final`: the first page of the final pass (QEMU_VM_SECTION_END of "ram", after the stop).
 * `any`: the k-th page of the stream, k drawn from the seed in [0, 64): only for a paused guest.
 */
export type FlipPass = 'final' | 'any';

/** Where the byte was flipped. */
export interface PageFlip {
  /** Offset of the flipped byte in the tunnel connection (its header frame included). */
  connectionOffset: number;
  /** Offset of the page's record in the savevm stream. */
  record: number;
  block: string;
  /** The page's address in its RAM block. */
  address: number;
  /** The flipped byte's index in the page. */
  byte: number;
  section: RamSectionKind;
}

/** The first pages a paused guest sends, among which `any` picks one. */
const ANY_PAGE_CHOICES = 64;
const HEADER_PREFIX = FRAME_MAGIC.length + 4;

/**
 * Follows one tunnel connection's client→server bytes, chunk by chunk before each is forwarded,
 * and says which byte of a chunk to flip. One-shot: once it chose, or once the stream ended
 * without a page that fits (`missed`), it only counts bytes.
 */
export class PageFlipper {
  /** The byte's index in the page (see onPage), and (pass `any`) which page: drawn from the seed. */
  readonly byte: number;
  readonly pageIndex: number;
  chosen: PageFlip | null = null;
  /** Why no byte was chosen, once that is certain (the stream ended or did not parse). */
  missed: string | null = null;
  private offset = 0;
  private streamStart: number | null = null;
  private header = Buffer.alloc(0);
  private pages = 0;
  private chunkStart = 0;
  private readonly parser: SavevmParser;

  constructor(
    readonly seed: number,
    readonly pass: FlipPass,
  ) {
    const next = prng(seed);
    this.byte = Math.floor(next() * PAGE_SIZE);
    this.pageIndex = pass === 'any' ? Math.floor(next() * ANY_PAGE_CHOICES) : 0;
    this.parser = new SavevmParser({ onPage: (p) => this.onPage(p), verifyDescription: false });
  }

  get settled(): boolean {
    return this.chosen !== null || this.missed !== null;
  }

  /** The next chunk of the connection, not yet forwarded: the connection offset of the byte to flip in it, if any. */
  inspect(chunk: Buffer): number | undefined {
    const at = this.offset;
    this.offset += chunk.length;
    if (this.settled) return undefined;
    if (this.streamStart === null) {
      this.header = Buffer.concat([this.header, chunk]);
      if (this.header.length < HEADER_PREFIX) return undefined;
      if (!this.header.subarray(0, FRAME_MAGIC.length).equals(FRAME_MAGIC)) {
        this.missed = 'the connection does not start with a tunnel header frame';
        return undefined;
      }
      this.streamStart = HEADER_PREFIX + this.header.readUInt32BE(FRAME_MAGIC.length);
      this.header = Buffer.alloc(0);
    }
    // The header frame (its JSON may come in several chunks) is not part of the savevm stream.
    if (this.offset <= this.streamStart) return undefined;
    this.chunkStart = Math.max(at, this.streamStart);
    let ended: boolean;
    try {
      ended = this.parser.push(chunk.subarray(this.chunkStart - at)).some((e) => e.type === 'eof');
    } catch (err) {
      this.missed = `the stream did not parse: ${(err as Error).message}`;
      return undefined;
    }
    // No page comes after QEMU_VM_EOF (only the device description).
    if (!this.chosen && ended)
      this.missed = `the stream ended without a page of the ${this.pass} pass to flip`;
    return this.chosen?.connectionOffset;
  }

  private onPage(page: { block: string; address: number; offset: number; data: Buffer | null }): void {
    if (this.chosen || page.data === null) return;
    const section = this.parser.current?.section;
    if (section === undefined || (this.pass === 'final' && section !== 'end')) return;
    if (this.pass === 'any' && this.pages++ < this.pageIndex) return;
    // The parser has just taken the page's data: it ends at the parser's offset, in this chunk
    // (it completed here). If the drawn byte went out with an earlier chunk, the page's first
    // byte still in this one is flipped instead: the page stays the chosen one.
    const dataStart = this.streamStart! + this.parser.offset - PAGE_SIZE;
    const connectionOffset = Math.max(dataStart + this.byte, this.chunkStart);
    this.chosen = {
      connectionOffset,
      record: page.offset,
      block: page.block,
      address: page.address,
      byte: connectionOffset - dataStart,
      section,
    };
  }
}

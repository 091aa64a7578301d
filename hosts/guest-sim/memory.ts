// Guest RAM: one zero-filled Buffer (the OS maps it lazily, so an idle 1 GiB guest costs little)
// cut into 4 KiB pages, with a bitmap of the pages ever written. An untouched page is known to be
// zero without reading it, which keeps migrating an idle guest cheap.
import { createHash } from 'node:crypto';
import { PAGE_SIZE } from '../savevm/constants.ts';
import { PageBitmap } from './bitmap.ts';

export const RAM_BLOCK_ID = 'pc.ram';
const ZERO_PAGE = Buffer.alloc(PAGE_SIZE);

export class GuestMemory {
  readonly ram: Buffer;
  readonly pages: number;
  /** Pages written at least once (by the workload or by an incoming migration). */
  readonly touched: PageBitmap;

  constructor(readonly bytes: number) {
    if (bytes <= 0 || bytes % PAGE_SIZE !== 0) throw new RangeError('RAM must be whole pages');
    this.ram = Buffer.alloc(bytes);
    this.pages = bytes / PAGE_SIZE;
    this.touched = new PageBitmap(this.pages);
  }

  /** A view of page `i`, or null when the page is zero (untouched, or written back to zeros). */
  pageOrNull(i: number): Buffer | null {
    if (!this.touched.test(i)) return null;
    const view = this.ram.subarray(i * PAGE_SIZE, (i + 1) * PAGE_SIZE);
    return view.equals(ZERO_PAGE) ? null : view;
  }

  /** Writes a 64-bit value inside page `i` (the workload's store instruction). */
  store(i: number, offsetInPage: number, hi: number, lo: number): void {
    const at = i * PAGE_SIZE + offsetInPage;
    this.ram.writeUInt32LE(lo >>> 0, at);
    this.ram.writeUInt32LE(hi >>> 0, at + 4);
    this.touched.set(i);
  }

  /** Loads a page from a migration stream: a payload, or a zero page's fill byte. */
  load(i: number, data: Buffer | null, fill: number): void {
    const at = i * PAGE_SIZE;
    if (data !== null) {
      data.copy(this.ram, at);
      this.touched.set(i);
    } else if (fill !== 0 || this.touched.test(i)) {
      // An untouched page is already zero: skipping it keeps an idle guest's RAM unmapped.
      this.ram.fill(fill, at, at + PAGE_SIZE);
      this.touched.set(i);
    }
  }

  /**
   * sha256 over RAM's size, each non-zero page with its index, then each named state prefixed by
   * its name and length. The same content gives the same digest whatever either side's bitmap
   * says (an untouched page is zero, a touched page that holds zeros is skipped the same way), and
   * only touched pages are read: hashing all of an idle 64 MiB guest took ~50 ms on each side of
   * every migration, for pages known to be zero.
   */
  digest(states: ReadonlyArray<{ name: string; data: Buffer }>): { digest: string; bytes: number } {
    const hash = createHash('sha256').update(`ram ${this.ram.length}\n`, 'latin1');
    const index = Buffer.alloc(4);
    for (let i = 0; i < this.pages; i++) {
      const page = this.pageOrNull(i);
      if (page === null) continue;
      index.writeUInt32BE(i);
      hash.update(index).update(page);
    }
    let bytes = this.ram.length;
    for (const s of states) {
      const head = Buffer.alloc(4);
      head.writeUInt32BE(s.data.length);
      hash.update(s.name, 'latin1').update(head).update(s.data);
      bytes += s.data.length;
    }
    return { digest: hash.digest('hex'), bytes };
  }
}

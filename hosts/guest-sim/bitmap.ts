// One bit per 4 KiB guest page, as QEMU's migration bitmap. Words are scanned 32 pages at a time,
// so walking a mostly clean bitmap (an idle 1 GiB guest after pass 1) costs no per-page JavaScript.
export class PageBitmap {
  private readonly words: Uint32Array;
  private set_ = 0;

  constructor(readonly pages: number) {
    this.words = new Uint32Array(Math.ceil(pages / 32));
  }

  /** Pages whose bit is set. */
  get count(): number {
    return this.set_;
  }

  test(page: number): boolean {
    return (this.words[page >>> 5]! & (1 << (page & 31))) !== 0;
  }

  set(page: number): void {
    const w = page >>> 5;
    const bit = 1 << (page & 31);
    const old = this.words[w]!;
    if ((old & bit) === 0) {
      this.words[w] = old | bit;
      this.set_++;
    }
  }

  clear(page: number): void {
    const w = page >>> 5;
    const bit = 1 << (page & 31);
    const old = this.words[w]!;
    if ((old & bit) !== 0) {
      this.words[w] = old & ~bit;
      this.set_--;
    }
  }

  setAll(): void {
    this.words.fill(0xffffffff);
    const tail = this.pages & 31;
    if (tail !== 0) this.words[this.words.length - 1] = (2 ** tail - 1) >>> 0;
    this.set_ = this.pages;
  }

  clearAll(): void {
    this.words.fill(0);
    this.set_ = 0;
  }

  /** ORs `other` into this bitmap (a dirty-log sync). */
  orFrom(other: PageBitmap): void {
    if (other.pages !== this.pages) throw new RangeError('bitmaps of different sizes');
    let count = 0;
    for (let i = 0; i < this.words.length; i++) {
      const w = (this.words[i]! | other.words[i]!) >>> 0;
      this.words[i] = w;
      count += popcount(w);
    }
    this.set_ = count;
  }

  /** The first set page at or after `from`, or -1. */
  nextSet(from: number): number {
    if (from >= this.pages) return -1;
    let w = from >>> 5;
    // Mask off the pages of the first word that come before `from`.
    let word = (this.words[w]! & (0xffffffff << (from & 31))) >>> 0;
    for (;;) {
      if (word !== 0) {
        const page = (w << 5) + ctz(word);
        return page < this.pages ? page : -1;
      }
      w++;
      if (w >= this.words.length) return -1;
      word = this.words[w]!;
    }
  }
}

function popcount(v: number): number {
  v = v - ((v >>> 1) & 0x55555555);
  v = (v & 0x33333333) + ((v >>> 2) & 0x33333333);
  return ((((v + (v >>> 4)) & 0x0f0f0f0f) * 0x01010101) >>> 24) & 0xff;
}

function ctz(v: number): number {
  return 31 - Math.clz32(v & -v);
}

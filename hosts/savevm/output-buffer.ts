// Big-endian writes into fixed-size chunks; a full chunk is handed to the consumer and never
// touched again, so the consumer may keep it (e.g. queued in a socket) without a copy.
export class OutputBuffer {
  private buf: Buffer;
  private pos = 0;
  private flushed = 0;

  constructor(
    private readonly out: (chunk: Buffer) => void,
    private readonly chunkBytes: number,
  ) {
    this.buf = Buffer.allocUnsafe(chunkBytes);
  }

  get written(): number {
    return this.flushed + this.pos;
  }

  u8(v: number): this {
    this.room(1);
    this.buf[this.pos++] = v;
    return this;
  }

  u32(v: number): this {
    this.room(4);
    this.buf.writeUInt32BE(v >>> 0, this.pos);
    this.pos += 4;
    return this;
  }

  /** A non-negative integer below 2^53 as a big-endian 64-bit value. */
  u64(v: number): this {
    this.room(8);
    this.buf.writeUInt32BE(Math.floor(v / 0x100000000), this.pos);
    this.buf.writeUInt32BE(v % 0x100000000, this.pos + 4);
    this.pos += 8;
    return this;
  }

  /** A one-byte length and the name, as QEMU writes idstrs. */
  idstr(s: string): this {
    const b = Buffer.from(s, 'latin1');
    if (b.length === 0 || b.length > 255)
      throw new RangeError(`idstr ${JSON.stringify(s)} must be 1..255 bytes`);
    return this.u8(b.length).bytes(b);
  }

  bytes(b: Buffer): this {
    let from = 0;
    while (from < b.length) {
      this.room(1);
      const n = b.copy(this.buf, this.pos, from);
      this.pos += n;
      from += n;
    }
    return this;
  }

  flush(): void {
    if (this.pos === 0) return;
    const chunk = this.buf.subarray(0, this.pos);
    this.flushed += this.pos;
    this.buf = Buffer.allocUnsafe(this.chunkBytes);
    this.pos = 0;
    this.out(chunk);
  }

  private room(n: number): void {
    if (this.pos + n > this.buf.length) this.flush();
  }
}

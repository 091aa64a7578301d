/**
 * The bytes pushed into the parser and not yet consumed. Chunks are kept as given, so a page
 * payload that sits inside one chunk is handed out as a view of it, never copied; only values
 * that straddle two chunks are assembled.
 */
export class ByteQueue {
  private chunks: Buffer[] = [];
  private first = 0; // index of the chunk holding the next unread byte
  private head = 0; // position of that byte inside chunks[first]
  private unread = 0;
  private consumed = 0;
  /** No more bytes will come: waiting for them is now a truncated stream. */
  ended = false;

  push(chunk: Buffer): void {
    if (chunk.length === 0) return;
    this.chunks.push(chunk);
    this.unread += chunk.length;
  }

  /** Bytes pushed and not yet consumed. */
  get available(): number {
    return this.unread;
  }

  /** Stream offset of the next unread byte. */
  get offset(): number {
    return this.consumed;
  }

  /** The byte `i` positions ahead of the next unread one, without consuming (i < available). */
  peek(i: number): number {
    let c = this.first;
    let pos = this.head + i;
    for (;;) {
      const chunk = this.chunks[c]!;
      if (pos < chunk.length) return chunk[pos]!;
      pos -= chunk.length;
      c++;
    }
  }

  /** The next `n` unread bytes as one buffer without consuming; copies only across chunks. */
  peekBytes(n: number): Buffer {
    if (n === 0) return EMPTY;
    const chunk = this.chunks[this.first]!;
    if (this.head + n <= chunk.length) return chunk.subarray(this.head, this.head + n);
    const out = Buffer.allocUnsafe(n);
    let c = this.first;
    let pos = this.head;
    let filled = 0;
    while (filled < n) {
      const from = this.chunks[c]!;
      const copied = from.copy(out, filled, pos, Math.min(from.length, pos + n - filled));
      filled += copied;
      c++;
      pos = 0;
    }
    return out;
  }

  /** Consumes `n` bytes (n <= available) and returns them; a view when they sit in one chunk. */
  take(n: number): Buffer {
    const out = this.peekBytes(n);
    this.skip(n);
    return out;
  }

  /** Consumes `n` bytes (n <= available) without looking at them. */
  skip(n: number): void {
    this.unread -= n;
    this.consumed += n;
    let left = n;
    while (left > 0) {
      const chunk = this.chunks[this.first]!;
      const rest = chunk.length - this.head;
      if (left < rest) {
        this.head += left;
        return;
      }
      left -= rest;
      this.dropFirst();
    }
  }

  /** Offset (relative to the next unread byte) of `byte` within the first chunk, or -1. */
  indexInFirstChunk(byte: number): number {
    const chunk = this.chunks[this.first];
    if (chunk === undefined) return -1;
    const at = chunk.indexOf(byte, this.head);
    return at < 0 ? -1 : at - this.head;
  }

  /** Unread bytes in the first chunk. */
  firstChunkLength(): number {
    const chunk = this.chunks[this.first];
    return chunk === undefined ? 0 : chunk.length - this.head;
  }

  u8(): number {
    const chunk = this.chunks[this.first]!;
    const v = chunk[this.head]!;
    this.skip(1);
    return v;
  }

  u16(): number {
    return (this.u8() << 8) | this.u8();
  }

  u32(): number {
    const chunk = this.chunks[this.first]!;
    if (this.head + 4 <= chunk.length) {
      const v = chunk.readUInt32BE(this.head);
      this.skip(4);
      return v;
    }
    return this.take(4).readUInt32BE(0);
  }

  /** A big-endian 64-bit value as [high 32 bits, low 32 bits], so callers keep exact flag bits. */
  u64Parts(): [number, number] {
    const hi = this.u32();
    return [hi, this.u32()];
  }

  private dropFirst(): void {
    this.chunks[this.first] = EMPTY;
    this.first++;
    this.head = 0;
    // Compact now and then so a stream of tiny chunks does not grow the array forever.
    if (this.first > 64 && this.first * 2 > this.chunks.length) {
      this.chunks = this.chunks.slice(this.first);
      this.first = 0;
    }
  }
}

const EMPTY = Buffer.alloc(0);

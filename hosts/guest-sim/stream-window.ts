// The raw bytes of the incoming stream that events may still need. The parser reports a device
// section or a command by offset and size, not by content; the destination cuts the content from
// here. Bytes that only RAM records occupy are dropped as soon as they are parsed, so memory stays
// bounded by the largest non-RAM item, not by the stream.
export class StreamWindow {
  private chunks: { offset: number; buf: Buffer }[] = [];
  private end = 0;

  push(buf: Buffer): void {
    if (buf.length === 0) return;
    this.chunks.push({ offset: this.end, buf });
    this.end += buf.length;
  }

  /** Forgets bytes before `offset`. */
  dropBefore(offset: number): void {
    let n = 0;
    while (n < this.chunks.length && this.chunks[n]!.offset + this.chunks[n]!.buf.length <= offset) n++;
    if (n > 0) this.chunks.splice(0, n);
  }

  /** Bytes [from, to) of the stream; they must not have been dropped. */
  slice(from: number, to: number): Buffer {
    const out = Buffer.alloc(to - from);
    let filled = 0;
    for (const { offset, buf } of this.chunks) {
      const start = Math.max(from, offset);
      const stop = Math.min(to, offset + buf.length);
      if (start < stop) filled += buf.copy(out, start - from, start - offset, stop - offset);
    }
    if (filled !== out.length) throw new RangeError(`stream bytes ${from}..${to} are not held`);
    return out;
  }
}

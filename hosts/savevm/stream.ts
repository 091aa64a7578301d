// Node stream adapters. Both are Transforms, so a slow consumer stops the parser and, through
// the pipe, the producer: backpressure, with nothing buffered beyond the streams' high-water marks.
import { Transform } from 'node:stream';
import type { TransformCallback, Writable } from 'node:stream';
import { once } from 'node:events';
import type { SavevmEvent } from './events.ts';
import { SavevmParser } from './parser.ts';
import type { SavevmParserOptions } from './parser.ts';

/** Bytes in, SavevmEvents out (object mode). Fails with the parser's SavevmError. */
export class SavevmParseStream extends Transform {
  readonly parser: SavevmParser;

  constructor(options: SavevmParserOptions = {}) {
    super({ readableObjectMode: true, readableHighWaterMark: 64 });
    this.parser = new SavevmParser(options);
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.forward(() => this.parser.push(chunk), callback);
  }

  override _flush(callback: TransformCallback): void {
    this.forward(() => this.parser.end(), callback);
  }

  private forward(step: () => SavevmEvent[], callback: TransformCallback): void {
    let events: SavevmEvent[];
    try {
      events = step();
    } catch (err) {
      callback(err as Error);
      return;
    }
    for (const e of events) this.push(e);
    callback();
  }
}

/**
 * Bytes in, the same bytes out, each event handed to `onEvent` as the bytes that complete it pass:
 * what an agent puts in the data path of a migration to watch it without changing it.
 */
export class SavevmTap extends Transform {
  readonly parser: SavevmParser;

  constructor(
    private readonly onEvent: (event: SavevmEvent) => void,
    options: SavevmParserOptions = {},
  ) {
    super();
    this.parser = new SavevmParser(options);
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    try {
      for (const e of this.parser.push(chunk)) this.onEvent(e);
    } catch (err) {
      callback(err as Error);
      return;
    }
    callback(null, chunk);
  }

  override _flush(callback: TransformCallback): void {
    try {
      for (const e of this.parser.end()) this.onEvent(e);
    } catch (err) {
      callback(err as Error);
      return;
    }
    callback();
  }
}

/** Connects a SavevmWriter to a Writable: pass `out` to the writer, await `ready()` between pages. */
export class WritableSink {
  private full = false;

  constructor(private readonly target: Writable) {}

  readonly out = (chunk: Buffer): void => {
    if (!this.target.write(chunk)) this.full = true;
  };

  /** Resolves once the target has room again. */
  async ready(): Promise<void> {
    if (!this.full) return;
    this.full = false;
    await once(this.target, 'drain');
  }
}

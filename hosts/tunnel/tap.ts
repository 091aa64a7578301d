// The two things in the data path besides the throttle: the savevm tap on the stream direction
// and a byte meter on the return path.
import { Transform } from 'node:stream';
import type { TransformCallback } from 'node:stream';
import { SavevmTap } from '../savevm/stream.ts';
import type { SavevmEvent } from '../savevm/events.ts';
import { isSavevmError } from '../savevm/errors.ts';
import type { SavevmError } from '../savevm/errors.ts';

/** How much of a chunk is parsed between two looks at the clock. */
export const TAP_SLICE_BYTES = 16 * 1024;
/** How long a chunk is parsed before the event loop gets a turn (timers, heartbeats, other I/O). */
export const TAP_BUDGET_MS = 10;

/**
 * SavevmTap that counts the bytes it let through and treats a stream ending early as an ending,
 * not an error: the bytes already parsed are still delivered downstream and the downstream is
 * ended, so the next hop (and finally the destination guest) sees exactly the bytes that were
 * sent and then EOF, and can say at which byte the stream broke. The tunnel turns a truncation
 * into TUNNEL_BROKEN afterwards. Every other parser error fails the tap, and so the tunnel.
 */
export class TunnelTap extends SavevmTap {
  /** Stream bytes parsed and passed on. */
  passed = 0;
  /** Set when the input ended before the stream did. */
  truncated: SavevmError | null = null;
  /** Set when the parser refused the stream. */
  corrupt: SavevmError | null = null;

  constructor(onEvent: (event: SavevmEvent) => void) {
    super(onEvent);
  }

  /**
   * Parses in slices, and lets the event loop run once a chunk has taken TAP_BUDGET_MS: a socket
   * hands over up to 32 reads (2 MiB) at once, and 2 MiB of the tiniest sections a peer can send
   * (18 bytes each) took a loaded agent about a second to parse, its heartbeats waiting meanwhile.
   * A stream of pages parses a chunk in well under a millisecond and never yields.
   */
  override _transform(chunk: Buffer, encoding: BufferEncoding, callback: TransformCallback): void {
    let at = 0;
    const step = (): void => {
      const until = performance.now() + TAP_BUDGET_MS;
      while (at < chunk.length) {
        const slice = chunk.subarray(at, at + TAP_SLICE_BYTES);
        let failed: Error | null | undefined = null;
        super._transform(slice, encoding, (err, data?: unknown) => {
          failed = err;
          if (!err && data) this.push(data);
        });
        if (failed) {
          if (isSavevmError(failed)) this.corrupt = failed;
          callback(failed);
          return;
        }
        this.passed += slice.length;
        at += slice.length;
        if (at < chunk.length && performance.now() >= until) {
          setImmediate(step);
          return;
        }
      }
      callback();
    };
    step();
  }

  override _flush(callback: TransformCallback): void {
    super._flush((err) => {
      if (isSavevmError(err) && err.code === 'SAVEVM_TRUNCATED') {
        this.truncated = err;
        callback();
      } else {
        if (isSavevmError(err)) this.corrupt = err;
        callback(err);
      }
    });
  }
}

/** Counts what passes (the return path, which is not a savevm stream and is not parsed). */
export class ByteMeter extends Transform {
  bytes = 0;

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.bytes += chunk.length;
    callback(null, chunk);
  }
}

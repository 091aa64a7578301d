// The two things in the data path besides the throttle: the savevm tap on the stream direction
// and a byte meter on the return path.
import { Transform } from 'node:stream';
import type { TransformCallback } from 'node:stream';
import { SavevmTap } from '../savevm/stream.ts';
import type { SavevmEvent } from '../savevm/events.ts';
import { isSavevmError } from '../savevm/errors.ts';
import type { SavevmError } from '../savevm/errors.ts';

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

  override _transform(chunk: Buffer, encoding: BufferEncoding, callback: TransformCallback): void {
    super._transform(chunk, encoding, (err, data?: unknown) => {
      if (!err) this.passed += chunk.length;
      else if (isSavevmError(err)) this.corrupt = err;
      callback(err, data);
    });
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

// The handshake on the agents' TCP connection: the source sends one header frame, the destination
// answers with one reply frame, and from then on the connection carries only the migration
// stream (source → destination) and QEMU's return path (destination → source).
// A frame is the magic "FTUN", a 32-bit big-endian length and that many bytes of JSON.
import type { Socket } from 'node:net';
import { z } from 'zod';
import { TOKEN_PATTERN } from '../../protocol/names.ts';

export const FRAME_MAGIC = Buffer.from('FTUN', 'ascii');
/** A header is ~150 bytes; anything near this bound is not ours. */
export const MAX_FRAME_BYTES = 4096;
export const TUNNEL_PROTOCOL_VERSION = 1;

export const TunnelHeader = z.strictObject({
  version: z.literal(TUNNEL_PROTOCOL_VERSION),
  migrationId: z.string().min(1).max(256),
  token: z.string().regex(TOKEN_PATTERN),
});
export type TunnelHeader = z.infer<typeof TunnelHeader>;

export const TunnelReply = z.discriminatedUnion('ok', [
  z.strictObject({ ok: z.literal(true) }),
  z.strictObject({
    ok: z.literal(false),
    reason: z.enum([
      'bad-header',
      'unknown-migration',
      'wrong-token',
      'reused-token',
      'expired-token',
      'target-unavailable',
      'wrong-peer',
      'too-many-connections',
    ]),
  }),
]);
export type TunnelReply = z.infer<typeof TunnelReply>;

export function encodeFrame(value: unknown): Buffer {
  const json = Buffer.from(JSON.stringify(value), 'utf8');
  if (json.length > MAX_FRAME_BYTES) throw new RangeError(`frame of ${json.length} bytes is too large`);
  const length = Buffer.alloc(4);
  length.writeUInt32BE(json.length);
  return Buffer.concat([FRAME_MAGIC, length, json]);
}

export class FrameError extends Error {}

/**
 * Reads exactly one frame from `socket` and returns its JSON, unparsed by any schema (the
 * caller applies one). Bytes after the frame are pushed back, and the socket is left paused, so
 * whatever pipes it next sees the stream from its first byte.
 */
export function readFrame(socket: Socket, timeoutMs: number): Promise<unknown> {
  return new Promise((resolve, reject) => {
    let buffered = Buffer.alloc(0);
    const timer = setTimeout(() => done(new FrameError(`no frame within ${timeoutMs} ms`)), timeoutMs);
    const done = (err: Error | null, value?: unknown, rest?: Buffer): void => {
      clearTimeout(timer);
      socket.off('data', onData);
      socket.off('end', onEnd);
      socket.off('error', onError);
      socket.off('close', onEnd);
      socket.pause();
      if (rest !== undefined && rest.length > 0) socket.unshift(rest);
      if (err) reject(err);
      else resolve(value);
    };
    const onData = (chunk: Buffer): void => {
      buffered = Buffer.concat([buffered, chunk]);
      const check = Math.min(buffered.length, FRAME_MAGIC.length);
      if (!buffered.subarray(0, check).equals(FRAME_MAGIC.subarray(0, check))) {
        done(new FrameError('bad frame magic'));
        return;
      }
      if (buffered.length < 8) return;
      const length = buffered.readUInt32BE(4);
      if (length > MAX_FRAME_BYTES) {
        done(new FrameError(`frame length ${length} exceeds ${MAX_FRAME_BYTES}`));
        return;
      }
      if (buffered.length < 8 + length) return;
      let value: unknown;
      try {
        value = JSON.parse(buffered.subarray(8, 8 + length).toString('utf8'));
      } catch {
        done(new FrameError('frame is not JSON'));
        return;
      }
      done(null, value, buffered.subarray(8 + length));
    };
    const onEnd = (): void => done(new FrameError('connection closed before a whole frame'));
    const onError = (err: Error): void => done(err);
    socket.on('data', onData);
    socket.once('end', onEnd);
    socket.once('close', onEnd);
    socket.once('error', onError);
    socket.resume(); // a socket accepted with pauseOnConnect reads nothing until resumed
  });
}

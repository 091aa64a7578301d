// The destination agent's half of bench/security-throughput.ts, in a worker thread of its own, as an
// agent is a process of its own: its listener (mutual TLS when given an identity) and a guest's
// incoming socket that counts the bytes. Tells the parent the ticket, then when every byte arrived
// and the tunnel completed.
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parentPort, workerData } from 'node:worker_threads';
import { z } from 'zod';
import { TunnelListener } from '../hosts/tunnel/listener.ts';

const Input = z.strictObject({
  bytes: z.number().int().positive(),
  /** PEM contents (as the worker receives Buffers: Uint8Arrays); absent for plain TCP. */
  tls: z
    .strictObject({
      ca: z.instanceof(Uint8Array),
      cert: z.instanceof(Uint8Array),
      key: z.instanceof(Uint8Array),
    })
    .optional(),
  /** The source host the listener admits with TLS. */
  peer: z.string(),
});

export type DestinationMessage =
  | { type: 'ticket'; migrationId: string; token: string; address: { host: string; port: number } }
  | { type: 'done'; bytes: number }
  | { type: 'failed'; message: string };

const input = Input.parse(workerData);
const port = parentPort!;
const dir = await mkdtemp(join(tmpdir(), 'ferry-bench-dst-'));
const listener = await TunnelListener.listen({
  host: '127.0.0.1',
  ...(input.tls
    ? {
        tls: {
          ca: Buffer.from(input.tls.ca),
          cert: Buffer.from(input.tls.cert),
          key: Buffer.from(input.tls.key),
        },
      }
    : {}),
});
let received = 0;
let arrived!: () => void;
const all = new Promise<void>((r) => (arrived = r));
const guest = createServer({ allowHalfOpen: true }, (socket) => {
  socket.on('data', (c: Buffer) => {
    received += c.length;
    if (received === input.bytes) arrived();
  });
  socket.on('end', () => socket.end());
  socket.on('error', () => undefined);
});
const target = join(dir, 'incoming.sock');
await new Promise<void>((r) => guest.listen(target, r));
try {
  const migrationId = `bench-${randomUUID()}`;
  const { token, address, tunnel } = listener.expect({
    migrationId,
    vm: 'bench',
    target,
    ttlMs: 60_000,
    peer: input.peer,
  });
  port.postMessage({ type: 'ticket', migrationId, token, address } satisfies DestinationMessage);
  const [result] = await Promise.all([tunnel.completion, all]);
  port.postMessage({ type: 'done', bytes: result.bytes.toDestination } satisfies DestinationMessage);
} catch (err) {
  port.postMessage({ type: 'failed', message: (err as Error).message } satisfies DestinationMessage);
} finally {
  await listener.close();
  await new Promise((r) => guest.close(r));
  await rm(dir, { recursive: true, force: true });
}

// The tunnel's cost against plain loopback TCP, in the same run with the same bytes: a savevm
// stream of mostly non-zero pages (the parser's expensive case) sent over one TCP socket, then
// guest → unix → source tunnel → TCP → destination tunnel → unix → guest, parsed on both sides,
// round after round. Everything runs in this one process, so the tunnel figure also pays for both fake guests
// and both agents on one event loop: a lower bound for agents in their own processes.
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { connect, createServer } from 'node:net';
import type { Server, Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SavevmWriter } from '../hosts/savevm/writer.ts';
import { TunnelListener } from '../hosts/tunnel/listener.ts';
import { openSourceTunnel } from '../hosts/tunnel/source.ts';

const PAGE = 4096;

export interface TunnelThroughput {
  /** Medians over the rounds. */
  tunnelMBps: number;
  rawMBps: number;
  /** The median of each round's tunnelMBps / rawMBps. */
  ratio: number;
  /** Every round's ratio, to show the spread. */
  ratios: number[];
}

/**
 * `rounds` rounds of raw then tunnelled, back to back: one round's two figures share whatever else
 * the machine is doing, so each round's ratio is fair, and the median of the rounds is the figure
 * (a single round swung from 0.51 to 0.98 between runs on a shared 2-core machine).
 */
export async function measureTunnelThroughput(sizeBytes: number, rounds = 5): Promise<TunnelThroughput> {
  const chunks = streamOf(sizeBytes);
  const bytes = chunks.reduce((n, c) => n + c.length, 0);
  const raws: number[] = [];
  const tunnels: number[] = [];
  const ratios: number[] = [];
  for (let i = 0; i < rounds; i++) {
    const rawMBps = bytes / 1e6 / (await raw(chunks, bytes));
    const tunnelMBps = bytes / 1e6 / (await tunnelled(chunks, bytes));
    raws.push(rawMBps);
    tunnels.push(tunnelMBps);
    ratios.push(Math.round((tunnelMBps / rawMBps) * 1000) / 1000);
  }
  return {
    tunnelMBps: round1(median(tunnels)),
    rawMBps: round1(median(raws)),
    ratio: median(ratios),
    ratios,
  };
}

function median(xs: number[]): number {
  const sorted = [...xs].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

/**
 * Raw loopback TCP alone (bytes per second), on the same kind of stream: the wire speed a bench
 * holds ferry's data path against.
 */
export async function measureLoopbackBps(sizeBytes: number): Promise<number> {
  const chunks = streamOf(sizeBytes);
  const bytes = chunks.reduce((n, c) => n + c.length, 0);
  return bytes / (await raw(chunks, bytes));
}

/** A precopy stream of about `sizeBytes`: one page in sixteen zero, the rest distinct data. */
export function streamOf(sizeBytes: number): Buffer[] {
  const pages = Math.max(16, Math.floor(sizeBytes / (PAGE + 8)));
  const chunks: Buffer[] = [];
  const w = new SavevmWriter(
    { machine: 'pc-i440fx-7.2', blocks: [{ id: 'pc.ram', length: pages * PAGE }] },
    (c) => chunks.push(c),
  );
  const data = Buffer.alloc(PAGE, 0x5a);
  w.header().ramStart().ramSection(true);
  for (let i = 0; i < pages; i++) {
    data.writeUInt32LE(i, 0);
    w.page('pc.ram', i * PAGE, i % 16 === 15 ? null : data);
  }
  w.endRamSection();
  w.device({ idstr: 'cpu', instanceId: 0, versionId: 12, data: Buffer.alloc(512, 3) });
  w.eof();
  return chunks;
}

async function send(socket: Socket, chunks: Buffer[]): Promise<void> {
  for (const c of chunks) {
    if (!socket.write(c)) await new Promise((r) => socket.once('drain', r));
  }
  socket.end();
}

/** A server that counts what it receives and resolves when `expected` bytes have arrived. */
function sink(expected: number): { server: Server; done: Promise<void> } {
  let resolve!: () => void;
  const done = new Promise<void>((r) => (resolve = r));
  const server = createServer({ allowHalfOpen: true }, (socket) => {
    let n = 0;
    socket.on('data', (c: Buffer) => {
      n += c.length;
      if (n === expected) resolve();
    });
    socket.on('end', () => socket.end());
    socket.on('error', () => undefined);
  });
  return { server, done };
}

async function raw(chunks: Buffer[], bytes: number): Promise<number> {
  const { server, done } = sink(bytes);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  try {
    const socket = connect({ host: '127.0.0.1', port: (server.address() as { port: number }).port });
    await new Promise((r) => socket.once('connect', r));
    const started = performance.now();
    await Promise.all([send(socket, chunks), done]);
    const seconds = (performance.now() - started) / 1000;
    socket.destroy();
    return seconds;
  } finally {
    await new Promise((r) => server.close(r));
  }
}

async function tunnelled(chunks: Buffer[], bytes: number): Promise<number> {
  const dir = await mkdtemp(join(tmpdir(), 'ferry-bench-tunnel-'));
  const listener = await TunnelListener.listen({ host: '127.0.0.1' });
  const { server, done } = sink(bytes);
  try {
    const target = join(dir, 'dst.sock');
    await new Promise<void>((r) => server.listen(target, r));
    const migrationId = `bench-${randomUUID()}`;
    const { token, address, tunnel } = listener.expect({ migrationId, vm: 'bench', target, ttlMs: 10_000 });
    const source = await openSourceTunnel({
      migrationId,
      vm: 'bench',
      socketPath: join(dir, 'src.sock'),
      destination: address,
      token,
    });
    const guest = connect({ path: source.socketPath });
    await new Promise((r) => guest.once('connect', r));
    const started = performance.now();
    await Promise.all([send(guest, chunks), done]);
    const seconds = (performance.now() - started) / 1000;
    const [s, d] = await Promise.all([source.completion, tunnel.completion]);
    if (s.bytes.toDestination !== bytes || d.bytes.toDestination !== bytes || !d.eof) {
      throw new Error(`tunnel carried ${d.bytes.toDestination} of ${bytes} bytes`);
    }
    guest.destroy();
    return seconds;
  } finally {
    await listener.close();
    await new Promise((r) => server.close(r));
    await rm(dir, { recursive: true, force: true });
  }
}

function round1(x: number): number {
  return Math.round(x * 10) / 10;
}

// Shared by the tunnel tests: savevm streams, fake guests on unix sockets, and a listener plus
// source tunnel wired together on loopback. Everything it opens is closed by `cleanup()`.
import { createHash, randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { connect, createServer } from 'node:net';
import type { Server, Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SavevmWriter } from '../hosts/savevm/writer.ts';
import { TunnelListener } from '../hosts/tunnel/listener.ts';
import type { DestinationTunnel } from '../hosts/tunnel/listener.ts';
import { openSourceTunnel } from '../hosts/tunnel/source.ts';
import type { SourceTunnel, SourceTunnelOptions } from '../hosts/tunnel/source.ts';
import type { TunnelEvent } from '../hosts/tunnel/events.ts';
import type { TunnelTls } from '../hosts/tunnel/tls.ts';

export const PAGE = 4096;

export function sha256(b: Buffer): string {
  return createHash('sha256').update(b).digest('hex');
}

/** A deterministic PRNG, so a failing random offset can be replayed from the seed in the title. */
export function rng(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return (s >>> 0) / 2 ** 32;
  };
}

/**
 * A precopy stream: `pages` of RAM in a first pass (one in eight zero), a second pass resending
 * a quarter of them, then three devices, EOF and the description.
 */
export function buildStream(pages: number, seed = 1): Buffer {
  const chunks: Buffer[] = [];
  const w = new SavevmWriter(
    { machine: 'pc-i440fx-7.2', blocks: [{ id: 'pc.ram', length: pages * PAGE }] },
    (c) => chunks.push(c),
  );
  const data = Buffer.alloc(PAGE);
  const fill = (n: number): Buffer => {
    data.fill((n * 31 + seed) & 0xff);
    data.writeUInt32LE(n, 0);
    data.writeUInt32LE(seed, 4);
    return data;
  };
  w.header().ramStart();
  w.ramSection();
  for (let i = 0; i < pages; i++) w.page('pc.ram', i * PAGE, i % 8 === 7 ? null : fill(i));
  w.endRamSection();
  w.ramSection(true);
  for (let i = 0; i < pages; i += 4) w.page('pc.ram', i * PAGE, fill(i + pages));
  w.endRamSection();
  w.device({ idstr: 'timer', instanceId: 0, versionId: 2, data: Buffer.alloc(24, 1) });
  w.device({ idstr: 'cpu', instanceId: 0, versionId: 12, data: Buffer.alloc(300, 7) });
  w.device({ idstr: 'serial', instanceId: 0, versionId: 3, data: Buffer.alloc(40, 2) });
  w.eof();
  return Buffer.concat(chunks);
}

export interface FakeDestinationGuest {
  /** Connections the guest's incoming socket accepted. */
  connections: number;
  /** Resolves with everything received once the stream's connection ends or errors. */
  received: Promise<{ bytes: Buffer; error: Error | null }>;
}

export interface FakeSourceGuest {
  /** Resolves with the return-path bytes once the connection closes. */
  returned: Promise<{ bytes: Buffer; error: Error | null }>;
  socket: Socket;
}

export class Harness {
  readonly servers: Server[] = [];
  readonly sockets: Socket[] = [];
  readonly tunnels: { close(): Promise<void> }[] = [];
  listener: TunnelListener | null = null;
  dir = '';
  readonly sourceEvents: TunnelEvent[] = [];
  readonly destinationEvents: TunnelEvent[] = [];
  readonly listenerEvents: TunnelEvent[] = [];

  /** With `tls`, the listener speaks mutual TLS as that host (security on). */
  static async create(options: { tls?: TunnelTls; maxConnectionsPerPeer?: number } = {}): Promise<Harness> {
    const h = new Harness();
    h.dir = await mkdtemp(join(tmpdir(), 'ferry-tunnel-'));
    h.listener = await TunnelListener.listen({
      host: '127.0.0.1',
      port: 0,
      onEvent: (e) => h.listenerEvents.push(e),
      ...options,
    });
    return h;
  }

  path(name: string): string {
    return join(this.dir, name);
  }

  /** A destination guest listening on its incoming socket, replying `returnPath` on connect. */
  async destinationGuest(path: string, returnPath = Buffer.alloc(0)): Promise<FakeDestinationGuest> {
    let resolveReceived!: (r: { bytes: Buffer; error: Error | null }) => void;
    const guest: FakeDestinationGuest = {
      connections: 0,
      received: new Promise((r) => (resolveReceived = r)),
    };
    const server = createServer({ allowHalfOpen: true }, (socket) => {
      guest.connections++;
      this.sockets.push(socket);
      const chunks: Buffer[] = [];
      let error: Error | null = null;
      socket.on('data', (c: Buffer) => chunks.push(c));
      socket.on('error', (err) => (error = err));
      socket.on('end', () => socket.end());
      socket.on('close', () => resolveReceived({ bytes: Buffer.concat(chunks), error }));
      if (returnPath.length > 0) socket.write(returnPath);
    });
    this.servers.push(server);
    await new Promise<void>((resolve) => server.listen(path, resolve));
    return guest;
  }

  /** Issues a token on the listener for a fresh migration (from source host `peer`, with TLS). */
  expect(
    target: string,
    ttlMs = 10_000,
    peer?: string,
  ): { migrationId: string; token: string; tunnel: DestinationTunnel } {
    const migrationId = `mig-${randomUUID()}`;
    const e = this.listener!.expect({
      migrationId,
      vm: 'vm1',
      target,
      ttlMs,
      onEvent: (ev) => this.destinationEvents.push(ev),
      ...(peer === undefined ? {} : { peer }),
    });
    this.tunnels.push(e.tunnel);
    return { migrationId, token: e.token, tunnel: e.tunnel };
  }

  async source(
    migrationId: string,
    token: string,
    extra: Partial<SourceTunnelOptions> = {},
  ): Promise<SourceTunnel> {
    const t = await openSourceTunnel({
      migrationId,
      vm: 'vm1',
      socketPath: this.path(`src-${migrationId}.sock`),
      destination: extra.destination ?? this.listener!.address,
      token,
      onEvent: (e) => this.sourceEvents.push(e),
      ...extra,
    });
    this.tunnels.push(t);
    return t;
  }

  /**
   * The source guest: writes `stream` (only `cutAt` bytes of it when given, then closes) in
   * chunks of `chunk` bytes with backpressure, and collects the return path.
   */
  sourceGuest(
    path: string,
    stream: Buffer,
    options: { cutAt?: number; chunk?: number } = {},
  ): FakeSourceGuest {
    const socket = connect({ path, allowHalfOpen: true });
    this.sockets.push(socket);
    const chunks: Buffer[] = [];
    let error: Error | null = null;
    socket.on('data', (c: Buffer) => chunks.push(c));
    socket.on('error', (err) => (error = err));
    const returned = new Promise<{ bytes: Buffer; error: Error | null }>((resolve) =>
      socket.on('close', () => resolve({ bytes: Buffer.concat(chunks), error })),
    );
    const end = Math.min(stream.length, options.cutAt ?? stream.length);
    const size = options.chunk ?? 64 * 1024;
    void (async () => {
      for (let at = 0; at < end && !socket.destroyed; at += size) {
        if (!socket.write(stream.subarray(at, Math.min(end, at + size)))) {
          await new Promise<void>((r) => {
            const go = (): void => {
              socket.off('drain', go);
              socket.off('close', go);
              r();
            };
            socket.on('drain', go);
            socket.on('close', go);
          });
        }
      }
      if (!socket.destroyed) socket.end();
    })();
    return { returned, socket };
  }

  async cleanup(): Promise<void> {
    await Promise.all(this.tunnels.map((t) => t.close()));
    await this.listener?.close();
    for (const s of this.sockets) s.destroy();
    await Promise.all(this.servers.map((s) => new Promise<void>((r) => s.close(() => r()))));
    await rm(this.dir, { recursive: true, force: true });
  }
}

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import type { Server, Socket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { Harness, buildStream, rng } from './tunnel-harness.ts';
import { TunnelError, isTunnelError } from '../hosts/tunnel/errors.ts';
import { TUNNEL_PROTOCOL_VERSION, encodeFrame } from '../hosts/tunnel/frame.ts';

async function rejection(p: Promise<unknown>): Promise<TunnelError> {
  try {
    await p;
  } catch (err) {
    assert.ok(isTunnelError(err), String(err));
    return err;
  }
  assert.fail('expected the tunnel to fail');
}

/** Sockets and servers the process holds, to check a failed tunnel leaves none behind. */
function handles(): number {
  return process.getActiveResourcesInfo().filter((r) => /TCP|Pipe/.test(r)).length;
}

test('tunnel cut - a source guest that stops at random offsets fails both sides at exactly that byte', async () => {
  const h = await Harness.create();
  try {
    const stream = buildStream(2048);
    const random = rng(42);
    const cuts = [
      0,
      1,
      7,
      stream.length - 1,
      ...Array.from({ length: 6 }, () => Math.floor(random() * stream.length)),
    ];
    for (const cutAt of cuts) {
      const target = h.path(`dst-${cutAt}.sock`);
      const dst = await h.destinationGuest(target);
      const { migrationId, token, tunnel: destination } = h.expect(target);
      const source = await h.source(migrationId, token);
      const guest = h.sourceGuest(source.socketPath, stream, { cutAt, chunk: 5000 });
      const [src, dest] = await Promise.all([
        rejection(source.completion),
        rejection(destination.completion),
      ]);
      const received = await dst.received;
      await guest.returned; // the source guest's connection was closed by the tunnel
      for (const err of [src, dest]) {
        assert.equal(err.code, 'TUNNEL_BROKEN', `cut at ${cutAt}: ${err.message}`);
        assert.equal(err.offset, cutAt, `cut at ${cutAt}: ${err.side} offset`);
        assert.equal(err.bytes.toDestination, cutAt);
        assert.equal(err.migrationId, migrationId);
      }
      assert.equal(src.side, 'source');
      assert.equal(dest.side, 'destination');
      assert.equal(
        received.bytes.length,
        cutAt,
        'the destination guest got exactly the bytes sent, then EOF',
      );
      assert.ok(received.bytes.equals(stream.subarray(0, cutAt)));
      assert.equal(existsSync(source.socketPath), false, 'source socket file removed');
      const broken = h.sourceEvents.filter((e) => e.type === 'tunnel-broken').at(-1);
      assert.ok(broken?.type === 'tunnel-broken' && broken.offset === cutAt);
    }
  } finally {
    await h.cleanup();
  }
});

/** A TCP hop between the agents that forwards `limit` bytes towards the destination, then drops both sides. */
async function cuttingProxy(
  to: { host: string; port: number },
  limit: number,
): Promise<{ server: Server; port: number; sockets: Socket[] }> {
  const sockets: Socket[] = [];
  const server = createServer((client) => {
    const upstream = connect(to);
    sockets.push(client, upstream);
    client.on('error', () => undefined);
    upstream.on('error', () => undefined);
    let sent = 0;
    let replied = false; // cut only once the source has its admission, or it fails the handshake instead
    const cut = (): void => {
      if (sent !== limit || !replied) return;
      client.destroy();
      upstream.destroy();
    };
    upstream.on('data', (chunk: Buffer) =>
      client.write(chunk, () => {
        replied = true;
        cut();
      }),
    );
    client.on('data', (chunk: Buffer) => {
      const room = limit - sent;
      if (room <= 0) return;
      const part = chunk.subarray(0, room);
      sent += part.length;
      upstream.write(part, cut);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { server, port: (server.address() as { port: number }).port, sockets };
}

test('tunnel cut - the TCP connection between the agents dropped at random offsets fails both sides', async () => {
  const h = await Harness.create();
  try {
    const stream = buildStream(8192); // ~34 MiB: more than the sockets can hold, so the source is still sending
    const random = rng(7);
    const before = handles();
    for (const cutAt of [
      0,
      1,
      ...Array.from({ length: 4 }, () => Math.floor((random() * stream.length) / 2)),
    ]) {
      const target = h.path(`dst-${cutAt}.sock`);
      const dst = await h.destinationGuest(target);
      const { migrationId, token, tunnel: destination } = h.expect(target);
      const header = encodeFrame({ version: TUNNEL_PROTOCOL_VERSION, migrationId, token }).length;
      const proxy = await cuttingProxy(h.listener!.address, header + cutAt);
      try {
        const source = await h.source(migrationId, token, {
          destination: { host: '127.0.0.1', port: proxy.port },
        });
        const guest = h.sourceGuest(source.socketPath, stream);
        const [src, dest] = await Promise.all([
          rejection(source.completion),
          rejection(destination.completion),
        ]);
        const received = await dst.received;
        const returned = await guest.returned;
        assert.equal(dest.code, 'TUNNEL_BROKEN', dest.message);
        assert.equal(dest.offset, cutAt, 'the destination knows exactly how far the stream got');
        assert.equal(received.bytes.length, cutAt);
        assert.equal(src.code, 'TUNNEL_BROKEN', src.message);
        // The source can only know what it handed to its socket; the kernel may have held more.
        assert.equal(src.offset, src.bytes.toDestination);
        assert.ok(src.offset >= cutAt && src.offset <= stream.length);
        assert.equal(returned.bytes.length, 0);
        assert.equal(existsSync(source.socketPath), false);
      } finally {
        for (const s of proxy.sockets) s.destroy();
        await new Promise((r) => proxy.server.close(r));
      }
    }
    await h.cleanup();
    await sleep(20);
    assert.ok(handles() <= before - 1, `sockets left: ${process.getActiveResourcesInfo().join(', ')}`);
  } finally {
    await h.cleanup();
  }
});

test('tunnel cut - close() cancels a running migration on both sides', async () => {
  const h = await Harness.create();
  try {
    const stream = buildStream(8192);
    const target = h.path('dst.sock');
    const dst = await h.destinationGuest(target);
    const { migrationId, token, tunnel: destination } = h.expect(target);
    const source = await h.source(migrationId, token, { bandwidthLimitBytesPerSec: 4 * 1024 * 1024 });
    const guest = h.sourceGuest(source.socketPath, stream);
    await sleep(200);
    await source.close();
    const src = await rejection(source.completion);
    const dest = await rejection(destination.completion);
    assert.equal(src.code, 'TUNNEL_CLOSED');
    assert.equal(dest.code, 'TUNNEL_BROKEN');
    assert.equal(dest.offset, (await dst.received).bytes.length);
    assert.ok(dest.offset > 0 && dest.offset < stream.length);
    await guest.returned;
    assert.equal(existsSync(source.socketPath), false);
  } finally {
    await h.cleanup();
  }
});

import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { connect as connectTcp, createServer } from 'node:net';
import { connect as connectTls } from 'node:tls';
import type { Socket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { Harness, buildStream, rng, sha256 } from '../tunnel-harness.ts';
import { tunnelIdentities, type TunnelIdentities } from '../support/tunnel-identities.ts';
import { isTunnelError } from '../../hosts/tunnel/errors.ts';
import type { TunnelEvent } from '../../hosts/tunnel/events.ts';
import { encodeFrame } from '../../hosts/tunnel/frame.ts';
import { newToken } from '../../hosts/tunnel/tickets.ts';
import type { TunnelTls } from '../../hosts/tunnel/tls.ts';

let ids: TunnelIdentities;
before(async () => {
  ids = await tunnelIdentities();
});
after(async () => {
  await ids.cleanup();
});

async function failure(p: Promise<unknown>): Promise<{ code: string; reason: string | undefined }> {
  try {
    await p;
  } catch (err) {
    assert.ok(isTunnelError(err), String(err));
    return { code: err.code, reason: err.reason };
  }
  assert.fail('expected the tunnel to fail');
}

/** What a hand-made client got: whether its side finished the handshake, and every byte it read. */
interface Attempt {
  secured: boolean;
  received: Buffer;
  error: string | null;
}

/**
 * Connects as an attacker would, with `tls` (or plain TCP when null), and sends `bytes` (a header
 * with a token) as soon as its side may; resolves when the destination has closed the connection.
 */
function attempt(
  h: Harness,
  tls: Partial<TunnelTls> | null,
  bytes: Buffer,
  timeoutMs = 5_000,
): Promise<Attempt> {
  const { host, port } = h.listener!.address;
  const socket: Socket = tls
    ? connectTls({ host, port, ...tls, checkServerIdentity: () => undefined })
    : connectTcp({ host, port });
  h.sockets.push(socket);
  const chunks: Buffer[] = [];
  let secured = false;
  let error: string | null = null;
  socket.on(tls ? 'secureConnect' : 'connect', () => {
    secured = tls !== null;
    socket.write(bytes);
  });
  socket.on('data', (c: Buffer) => chunks.push(c));
  socket.on('error', (err: NodeJS.ErrnoException) => (error = err.code ?? err.message));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`the destination did not close the connection within ${timeoutMs} ms`));
    }, timeoutMs);
    socket.once('close', () => {
      clearTimeout(timer);
      resolve({ secured, received: Buffer.concat(chunks), error });
    });
  });
}

function refusals(events: TunnelEvent[], reason: string): TunnelEvent[] {
  return events.filter((e) => e.type === 'tunnel-refused' && e.reason === reason);
}

/** The real source then gets in with the same token and the guest receives the stream whole. */
async function sourceStillGetsIn(
  h: Harness,
  e: ReturnType<Harness['expect']>,
  dst: Awaited<ReturnType<Harness['destinationGuest']>>,
): Promise<void> {
  const src = await h.source(e.migrationId, e.token, { tls: ids.hostA, peer: 'host-b' });
  const stream = buildStream(64);
  h.sourceGuest(src.socketPath, stream);
  await Promise.all([src.completion, e.tunnel.completion]);
  const got = await dst.received;
  assert.equal(sha256(got.bytes), sha256(stream));
  assert.equal(dst.connections, 1, 'the guest saw only the real source');
}

test('tunnel tls - a migration between the hosts the cookies name carries the stream whole over TLS 1.3', async () => {
  const h = await Harness.create({ tls: ids.hostB });
  try {
    const target = h.path('dst.sock');
    const dst = await h.destinationGuest(target, Buffer.from('return path'));
    const { migrationId, token, tunnel } = h.expect(target, 10_000, 'host-a');
    const src = await h.source(migrationId, token, { tls: ids.hostA, peer: 'host-b' });
    const stream = buildStream(256);
    const guest = h.sourceGuest(src.socketPath, stream, { chunk: 10_000 });
    const [s, d] = await Promise.all([src.completion, tunnel.completion]);
    assert.equal(sha256((await dst.received).bytes), sha256(stream));
    assert.equal((await guest.returned).bytes.toString(), 'return path');
    assert.equal(s.bytes.toDestination, stream.length);
    assert.equal(d.bytes.toDestination, stream.length);
    assert.ok(h.destinationEvents.some((e) => e.type === 'tunnel-opened'));
  } finally {
    await h.cleanup();
  }
});

test('tunnel tls - a client without a certificate fails the handshake, reads nothing, and the guest is untouched', async () => {
  const h = await Harness.create({ tls: ids.hostB });
  try {
    const target = h.path('dst.sock');
    const dst = await h.destinationGuest(target);
    const e = h.expect(target, 10_000, 'host-a');
    const header = encodeFrame({ version: 1, migrationId: e.migrationId, token: e.token });
    // Even with the right token (stolen), and trusting the CA: no certificate, no answer.
    const noCert = await attempt(h, { ca: ids.ca }, header);
    assert.equal(noCert.received.length, 0, 'not one byte of application data came back');
    assert.notEqual(noCert.error, null);
    // Plain TCP speaking the tunnel's own protocol gets nothing either.
    const plain = await attempt(h, null, header);
    assert.equal(plain.received.length, 0);
    assert.ok(
      refusals(h.listenerEvents, 'tls-handshake-failed').length >= 2,
      JSON.stringify(h.listenerEvents),
    );
    assert.equal(refusals(h.listenerEvents, 'bad-header').length, 0, 'no header was ever parsed');
    assert.equal(dst.connections, 0);
    await sourceStillGetsIn(h, e, dst);
  } finally {
    await h.cleanup();
  }
});

test('tunnel tls - a certificate from another CA naming the source is refused in the handshake', async () => {
  const h = await Harness.create({ tls: ids.hostB });
  try {
    const target = h.path('dst.sock');
    const dst = await h.destinationGuest(target);
    const e = h.expect(target, 10_000, 'host-a');
    const header = encodeFrame({ version: 1, migrationId: e.migrationId, token: e.token });
    const impostor = await attempt(h, { ...ids.impostorA, ca: ids.ca }, header);
    assert.equal(impostor.received.length, 0);
    assert.ok(refusals(h.listenerEvents, 'tls-handshake-failed').length >= 1);
    // The source's own check: with the impostor's CA it cannot take the real destination for host-b.
    const misled = await failure(
      h.source(e.migrationId, e.token, {
        tls: { ...ids.hostA, ca: ids.impostorA.ca },
        peer: 'host-b',
        socketPath: h.path('misled.sock'),
      }),
    );
    assert.equal(misled.code, 'TUNNEL_AUTH_FAILED');
    assert.equal(dst.connections, 0);
    await sourceStillGetsIn(h, e, dst);
  } finally {
    await h.cleanup();
  }
});

test("tunnel tls - another host's certificate with the right token is refused as the wrong peer and spends nothing", async () => {
  const h = await Harness.create({ tls: ids.hostB });
  try {
    const target = h.path('dst.sock');
    const dst = await h.destinationGuest(target);
    const e = h.expect(target, 10_000, 'host-a');
    const wrong = await failure(
      h.source(e.migrationId, e.token, { tls: ids.hostC, peer: 'host-b', socketPath: h.path('c.sock') }),
    );
    assert.deepEqual(wrong, { code: 'TUNNEL_AUTH_FAILED', reason: 'wrong-peer' });
    const operator = await failure(
      h.source(e.migrationId, e.token, { tls: ids.operator, peer: 'host-b', socketPath: h.path('op.sock') }),
    );
    assert.deepEqual(operator, { code: 'TUNNEL_AUTH_FAILED', reason: 'wrong-peer' });
    const seen = refusals(h.destinationEvents, 'wrong-peer');
    assert.equal(seen.length, 1, 'the host-c attempt is reported on the migration it claimed');
    assert.equal(seen[0]?.type === 'tunnel-refused' ? seen[0].peerHost : undefined, 'host-c');
    assert.equal(refusals(h.listenerEvents, 'wrong-peer').length, 2, 'both are in the listener log');
    assert.equal(dst.connections, 0);
    await sourceStillGetsIn(h, e, dst);
  } finally {
    await h.cleanup();
  }
});

test('tunnel tls - the source with a stolen token (right certificate, wrong or used token) is refused', async () => {
  const h = await Harness.create({ tls: ids.hostB });
  try {
    const target = h.path('dst.sock');
    const dst = await h.destinationGuest(target);
    const e = h.expect(target, 10_000, 'host-a');
    const wrongToken = await failure(
      h.source(e.migrationId, newToken(), { tls: ids.hostA, peer: 'host-b', socketPath: h.path('w.sock') }),
    );
    assert.deepEqual(wrongToken, { code: 'TUNNEL_TOKEN_REFUSED', reason: 'wrong-token' });
    assert.equal(dst.connections, 0);
    const first = await h.source(e.migrationId, e.token, { tls: ids.hostA, peer: 'host-b' });
    const reused = await failure(
      h.source(e.migrationId, e.token, { tls: ids.hostA, peer: 'host-b', socketPath: h.path('r.sock') }),
    );
    assert.deepEqual(reused, { code: 'TUNNEL_TOKEN_REFUSED', reason: 'reused-token' });
    const stream = buildStream(64);
    h.sourceGuest(first.socketPath, stream);
    await Promise.all([first.completion, e.tunnel.completion]);
    assert.equal(sha256((await dst.received).bytes), sha256(stream), "the guest's stream is untouched");
    assert.equal(dst.connections, 1);
  } finally {
    await h.cleanup();
  }
});

test('tunnel tls - the source refuses a destination whose certificate names another host, before sending the token', async () => {
  const h = await Harness.create({ tls: ids.hostC });
  try {
    const target = h.path('dst.sock');
    const dst = await h.destinationGuest(target);
    const e = h.expect(target, 10_000, 'host-a');
    // The cookie said host-b; host-c answers at that address.
    const misdirected = await failure(h.source(e.migrationId, e.token, { tls: ids.hostA, peer: 'host-b' }));
    assert.equal(misdirected.code, 'TUNNEL_AUTH_FAILED');
    await sleep(50);
    assert.equal(
      refusals(h.listenerEvents, 'tls-handshake-failed').length,
      1,
      'the source aborted the handshake',
    );
    assert.equal(h.destinationEvents.length, 0, 'no header reached the destination');
    // The token is still unspent: presented to host-c knowingly, it admits.
    const src = await h.source(e.migrationId, e.token, {
      tls: ids.hostA,
      peer: 'host-c',
      socketPath: h.path('ok.sock'),
    });
    h.sourceGuest(src.socketPath, buildStream(16));
    await Promise.all([src.completion, e.tunnel.completion]);
    assert.equal(dst.connections, 1);
  } finally {
    await h.cleanup();
  }
});

test('tunnel tls - with TLS on, a token is issued only for a named source, and a source needs a named destination', async () => {
  const h = await Harness.create({ tls: ids.hostB });
  try {
    assert.throws(
      () => h.listener!.expect({ migrationId: 'm-1', vm: 'vm1', target: h.path('t.sock'), ttlMs: 1000 }),
      (err: unknown) => isTunnelError(err) && err.code === 'TUNNEL_AUTH_FAILED',
    );
    const e = h.expect(h.path('dst.sock'), 10_000, 'host-a');
    const unnamed = await failure(h.source(e.migrationId, e.token, { tls: ids.hostA }));
    assert.equal(unnamed.code, 'TUNNEL_AUTH_FAILED');
  } finally {
    await h.cleanup();
  }
});

test('tunnel tls - a host holding the per-peer limit of connections is refused one more, with the limit in the report', async () => {
  const h = await Harness.create({ tls: ids.hostB, maxConnectionsPerPeer: 2 });
  try {
    const target = h.path('dst.sock');
    const dst = await h.destinationGuest(target);
    const e = h.expect(target, 10_000, 'host-a');
    const { host, port } = h.listener!.address;
    // Two idle authenticated connections of host-a (no header yet) hold its two places.
    const idle: Socket[] = [];
    for (let i = 0; i < 2; i++) {
      const s = connectTls({ host, port, ...ids.hostA, checkServerIdentity: () => undefined });
      s.on('error', () => undefined);
      h.sockets.push(s);
      idle.push(s);
      await new Promise((r) => s.once('secureConnect', r));
    }
    await sleep(50); // the server's side of the handshake completes after the client's in TLS 1.3
    const third = await failure(
      h.source(e.migrationId, e.token, { tls: ids.hostA, peer: 'host-b', socketPath: h.path('3.sock') }),
    );
    assert.deepEqual(third, { code: 'TUNNEL_CONNECT_FAILED', reason: 'too-many-connections' });
    const refused = refusals(h.listenerEvents, 'too-many-connections');
    assert.equal(refused.length, 1);
    assert.match(refused[0]?.type === 'tunnel-refused' ? (refused[0].detail ?? '') : '', /host host-a .*2/);
    // One goes; the source then gets in with its (unspent) token.
    idle[0]!.destroy();
    await sleep(50);
    await sourceStillGetsIn(h, e, dst);
  } finally {
    await h.cleanup();
  }
});

test('tunnel tls - without TLS the per-peer limit counts connections by address', async () => {
  const h = await Harness.create({ maxConnectionsPerPeer: 1 });
  try {
    const { host, port } = h.listener!.address;
    const holder = connectTcp({ host, port });
    holder.on('error', () => undefined);
    h.sockets.push(holder);
    await new Promise((r) => holder.once('connect', r));
    await sleep(20);
    const cut = await attempt(h, null, encodeFrame({ version: 1, migrationId: 'm', token: newToken() }));
    assert.equal(cut.received.length, 0, 'cut before any answer');
    const refused = refusals(h.listenerEvents, 'too-many-connections');
    assert.equal(refused.length, 1);
    assert.match(
      refused[0]?.type === 'tunnel-refused' ? (refused[0].detail ?? '') : '',
      /address 127\.0\.0\.1/,
    );
  } finally {
    await h.cleanup();
  }
});

/** Forwards to `to` and destroys both sides once `cutAt` client→server bytes went through. */
async function cuttingProxy(
  to: { host: string; port: number },
  cutAt: number,
): Promise<{ port: number; close: () => Promise<void> }> {
  const sockets: Socket[] = [];
  const server = createServer((client) => {
    const upstream = connectTcp(to);
    sockets.push(client, upstream);
    for (const s of [client, upstream]) s.on('error', () => undefined);
    upstream.on('data', (c: Buffer) => client.write(c));
    let sent = 0;
    client.on('data', (c: Buffer) => {
      const part = c.subarray(0, Math.max(0, cutAt - sent));
      sent += part.length;
      upstream.write(part, () => {
        if (sent < cutAt) return;
        client.destroy();
        upstream.destroy();
      });
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: (server.address() as { port: number }).port,
    close: async () => {
      for (const s of sockets) s.destroy();
      await new Promise((r) => server.close(r));
    },
  };
}

test('tunnel tls - a connection cut mid-record delivers exactly a clean prefix of the stream, and both sides fail', async () => {
  const h = await Harness.create({ tls: ids.hostB });
  try {
    const stream = buildStream(4096);
    const random = rng(11);
    // Just after the handshake (inside the first 16 KiB record, which then never decrypts), then deep in.
    const cuts = [
      3_000,
      ...Array.from({ length: 2 }, () => 100_000 + Math.floor(random() * stream.length * 0.5)),
    ];
    for (const cutAt of cuts) {
      const target = h.path(`dst-${cutAt}.sock`);
      const dst = await h.destinationGuest(target);
      const e = h.expect(target, 10_000, 'host-a');
      const proxy = await cuttingProxy(h.listener!.address, cutAt);
      try {
        const src = await h.source(e.migrationId, e.token, {
          tls: ids.hostA,
          peer: 'host-b',
          destination: { host: '127.0.0.1', port: proxy.port },
        });
        h.sourceGuest(src.socketPath, stream);
        const [s, d] = await Promise.all([
          src.completion.then(
            () => assert.fail('the source completed'),
            (err: unknown) => err,
          ),
          e.tunnel.completion.then(
            () => assert.fail('the destination completed'),
            (err: unknown) => err,
          ),
        ]);
        assert.ok(isTunnelError(s) && isTunnelError(d), `${String(s)} / ${String(d)}`);
        assert.equal(d.code, 'TUNNEL_BROKEN', `cut at ciphertext byte ${cutAt}`);
        assert.equal(s.code, 'TUNNEL_BROKEN');
        const got = (await dst.received).bytes;
        assert.ok(got.length < stream.length, `${got.length} bytes arrived (${d.message})`);
        // Only whole records decrypt: a cut inside the first delivers nothing, a later one a prefix.
        if (cutAt > 100_000) assert.ok(got.length > 0, `a cut at ciphertext byte ${cutAt} delivered nothing`);
        assert.equal(got.length, d.offset, 'the destination knows exactly how far the stream got');
        assert.ok(
          got.equals(stream.subarray(0, got.length)),
          'what arrived is the stream, not a byte more or other',
        );
      } finally {
        await proxy.close();
      }
    }
  } finally {
    await h.cleanup();
  }
});

test("tunnel tls - the return path still carries the destination guest's bytes after the stream has ended (half-close)", async () => {
  const h = await Harness.create({ tls: ids.hostB });
  try {
    const target = h.path('dst.sock');
    // A guest that answers only once the whole stream has arrived, as QEMU's return path may.
    let received = 0;
    const guestServer = createServer({ allowHalfOpen: true }, (socket) => {
      h.sockets.push(socket);
      socket.on('data', (c: Buffer) => (received += c.length));
      socket.on('end', () => setTimeout(() => socket.end('after the stream'), 50));
    });
    h.servers.push(guestServer);
    await new Promise<void>((r) => guestServer.listen(target, r));
    const e = h.expect(target, 10_000, 'host-a');
    const src = await h.source(e.migrationId, e.token, { tls: ids.hostA, peer: 'host-b' });
    const stream = buildStream(64);
    const guest = h.sourceGuest(src.socketPath, stream);
    await Promise.all([src.completion, e.tunnel.completion]);
    assert.equal(received, stream.length);
    assert.equal((await guest.returned).bytes.toString(), 'after the stream');
  } finally {
    await h.cleanup();
  }
});

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { Harness, buildStream, sha256 } from './tunnel-harness.ts';
import { isTunnelError } from '../hosts/tunnel/errors.ts';
import { encodeFrame } from '../hosts/tunnel/frame.ts';
import { newToken } from '../hosts/tunnel/tickets.ts';

async function refusal(p: Promise<unknown>): Promise<{ code: string; reason: string | undefined }> {
  try {
    await p;
  } catch (err) {
    assert.ok(isTunnelError(err), String(err));
    return { code: err.code, reason: err.reason };
  }
  assert.fail('expected a refusal');
}

test('tunnel token - admits once: a second connection with the same token is refused', async () => {
  const h = await Harness.create();
  try {
    const target = h.path('dst.sock');
    const dst = await h.destinationGuest(target);
    const { migrationId, token, tunnel } = h.expect(target);
    const first = await h.source(migrationId, token);
    const again = await refusal(h.source(migrationId, token, { socketPath: h.path('again.sock') }));
    assert.deepEqual(again, { code: 'TUNNEL_TOKEN_REFUSED', reason: 'reused-token' });
    // The admitted tunnel is unaffected and still carries its stream.
    const stream = buildStream(64);
    h.sourceGuest(first.socketPath, stream);
    await Promise.all([first.completion, tunnel.completion]);
    assert.equal(sha256((await dst.received).bytes), sha256(stream));
    assert.equal(dst.connections, 1);
    assert.ok(h.destinationEvents.some((e) => e.type === 'tunnel-refused' && e.reason === 'reused-token'));
  } finally {
    await h.cleanup();
  }
});

test('tunnel token - a wrong token is refused and the guest never touched', async () => {
  const h = await Harness.create();
  try {
    const target = h.path('dst.sock');
    const dst = await h.destinationGuest(target);
    const { migrationId } = h.expect(target);
    const wrong = await refusal(h.source(migrationId, newToken()));
    assert.deepEqual(wrong, { code: 'TUNNEL_TOKEN_REFUSED', reason: 'wrong-token' });
    const unknown = await refusal(h.source('mig-nobody-expects', newToken()));
    assert.deepEqual(unknown, { code: 'TUNNEL_TOKEN_REFUSED', reason: 'unknown-migration' });
    await sleep(50);
    assert.equal(dst.connections, 0);
    assert.ok(h.listenerEvents.some((e) => e.type === 'tunnel-refused' && e.reason === 'wrong-token'));
    assert.ok(h.listenerEvents.some((e) => e.type === 'tunnel-refused' && e.reason === 'unknown-migration'));
  } finally {
    await h.cleanup();
  }
});

test('tunnel token - an expired token is refused and the waiting tunnel rejects', async () => {
  const h = await Harness.create();
  try {
    const target = h.path('dst.sock');
    const dst = await h.destinationGuest(target);
    const { migrationId, token, tunnel } = h.expect(target, 100);
    await sleep(200);
    const late = await refusal(h.source(migrationId, token));
    assert.deepEqual(late, { code: 'TUNNEL_TOKEN_REFUSED', reason: 'expired-token' });
    const expired = await refusal(tunnel.completion);
    assert.equal(expired.code, 'TUNNEL_TOKEN_EXPIRED');
    assert.equal(dst.connections, 0);
  } finally {
    await h.cleanup();
  }
});

test('tunnel token - garbage instead of a header is refused without touching the guest', async () => {
  const h = await Harness.create();
  try {
    const target = h.path('dst.sock');
    const dst = await h.destinationGuest(target);
    const { migrationId } = h.expect(target);
    const { host, port } = h.listener!.address;
    for (const bytes of [
      Buffer.from('QEVM\0\0\0\x03 a savevm stream without a header'),
      encodeFrame({ version: 1, migrationId, token: 'short' }),
      encodeFrame({ version: 1, migrationId, token: newToken(), extra: true }),
    ]) {
      const socket = connect({ host, port });
      h.sockets.push(socket);
      socket.on('error', () => undefined);
      socket.resume();
      socket.end(bytes);
      await new Promise((r) => socket.once('close', r));
    }
    assert.equal(
      h.listenerEvents.filter((e) => e.type === 'tunnel-refused' && e.reason === 'bad-header').length,
      3,
    );
    assert.equal(dst.connections, 0);
  } finally {
    await h.cleanup();
  }
});

test('tunnel token - a destination guest that never listens fails both sides with TUNNEL_CONNECT_FAILED', async () => {
  const h = await Harness.create();
  try {
    await h.listener!.close();
    const { TunnelListener } = await import('../hosts/tunnel/listener.ts');
    h.listener = await TunnelListener.listen({ host: '127.0.0.1', targetWaitMs: 200 });
    const { migrationId, token, tunnel } = h.expect(h.path('nobody.sock'));
    const src = await refusal(h.source(migrationId, token));
    assert.deepEqual(src, { code: 'TUNNEL_CONNECT_FAILED', reason: 'target-unavailable' });
    assert.equal((await refusal(tunnel.completion)).code, 'TUNNEL_CONNECT_FAILED');
  } finally {
    await h.cleanup();
  }
});

test('tunnel token - an unreachable destination agent fails with TUNNEL_CONNECT_FAILED', async () => {
  const h = await Harness.create();
  try {
    const { port } = h.listener!.address;
    await h.listener!.close();
    const err = await refusal(h.source('mig-x', newToken(), { destination: { host: '127.0.0.1', port } }));
    assert.equal(err.code, 'TUNNEL_CONNECT_FAILED');
  } finally {
    await h.cleanup();
  }
});

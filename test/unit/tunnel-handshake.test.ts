import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, connect } from 'node:net';
import type { Socket } from 'node:net';
import { TunnelHeader, TunnelReply, encodeFrame, readFrame } from '../../hosts/tunnel/frame.ts';
import { TicketBook, newToken } from '../../hosts/tunnel/tickets.ts';

async function pair(): Promise<{ a: Socket; b: Socket; close: () => Promise<void> }> {
  const server = createServer({ pauseOnConnect: true });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const accepted = new Promise<Socket>((r) => server.once('connection', r));
  const a = connect((server.address() as { port: number }).port, '127.0.0.1');
  const b = await accepted;
  return {
    a,
    b,
    close: async () => {
      a.destroy();
      b.destroy();
      await new Promise((r) => server.close(r));
    },
  };
}

test('tunnel handshake - a frame split across writes is read whole and the bytes after it are kept', async () => {
  const { a, b, close } = await pair();
  try {
    const header = { version: 1, migrationId: 'm1', token: newToken() };
    const bytes = Buffer.concat([encodeFrame(header), Buffer.from('QEVM')]);
    a.write(bytes.subarray(0, 3));
    setTimeout(() => a.write(bytes.subarray(3)), 20);
    assert.deepEqual(TunnelHeader.parse(await readFrame(b, 1000)), header);
    b.resume();
    const rest = await new Promise<Buffer>((r) => b.once('data', r));
    assert.equal(rest.toString(), 'QEVM');
  } finally {
    await close();
  }
});

test('tunnel handshake - bad magic, oversize length, silence and non-JSON are refused', async () => {
  for (const bytes of [
    Buffer.from('QEVM\0\0\0\x03'),
    Buffer.from([0x46, 0x54, 0x55, 0x4e, 0xff, 0xff, 0xff, 0xff]),
    Buffer.concat([Buffer.from('FTUN\0\0\0\x03'), Buffer.from('{{{')]),
    Buffer.alloc(0),
  ]) {
    const { a, b, close } = await pair();
    try {
      if (bytes.length > 0) a.write(bytes);
      await assert.rejects(readFrame(b, 200));
    } finally {
      await close();
    }
  }
});

test('tunnel handshake - schemas refuse extra fields, short tokens and unknown reasons', () => {
  assert.equal(TunnelHeader.safeParse({ version: 1, migrationId: 'm', token: 'abc' }).success, false);
  assert.equal(TunnelHeader.safeParse({ version: 2, migrationId: 'm', token: newToken() }).success, false);
  assert.equal(
    TunnelHeader.safeParse({ version: 1, migrationId: 'm', token: newToken(), x: 1 }).success,
    false,
  );
  assert.equal(TunnelReply.safeParse({ ok: false, reason: 'because' }).success, false);
  assert.equal(TunnelReply.safeParse({ ok: true }).success, true);
});

test('tunnel tickets - a token admits once, then is refused as reused', () => {
  const book = new TicketBook<string>(() => 1000);
  const t = book.issue('m1', 500, 'v')!;
  assert.match(t.token, /^[A-Za-z0-9_-]{43}$/);
  assert.equal(book.issue('m1', 500, 'w'), null, 'no second token while one waits');
  assert.deepEqual(book.admit('m1', newToken()).ok, false);
  assert.equal(book.admit('m1', t.token).ok, true);
  const again = book.admit('m1', t.token);
  assert.ok(!again.ok && again.reason === 'reused-token');
  const unknown = book.admit('m2', t.token);
  assert.ok(!unknown.ok && unknown.reason === 'unknown-migration');
});

test('tunnel tickets - an expired token is refused, and a new one can be issued', () => {
  let now = 0;
  const book = new TicketBook<string>(() => now);
  const t = book.issue('m1', 100, 'v')!;
  now = 100;
  assert.equal(book.expire(t), true);
  const late = book.admit('m1', t.token);
  assert.ok(!late.ok && late.reason === 'expired-token');
  const fresh = book.issue('m1', 100, 'v');
  assert.ok(fresh && fresh.token !== t.token);
  assert.equal(book.admit('m1', fresh.token).ok, true);
});

test('tunnel tickets - a late token presented before the expiry timer ran leaves the expiry to it', () => {
  // The listener fails the waiting tunnel only when expire() says it expired the ticket; a late
  // source that came first must not take that from it (the tunnel would wait for ever).
  let now = 0;
  const book = new TicketBook<string>(() => now);
  const t = book.issue('m1', 100, 'v')!;
  now = 150;
  const late = book.admit('m1', t.token);
  assert.ok(!late.ok && late.reason === 'expired-token');
  assert.equal(book.expire(t), true, 'the timer still expires the ticket');
  assert.equal(book.expire(t), false, 'once');
});

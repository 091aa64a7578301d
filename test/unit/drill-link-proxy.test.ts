// The drill's link proxy with real sockets on loopback: it forwards both ways, cuts at an exact
// byte offset, flips exactly one byte, throttles, and blackholes (no answer, no reset) until healed.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { after, before, test } from 'node:test';
import { LinkProxy } from '../../drills/link-proxy.ts';

const HOST = '127.0.3.1';
let echo: Server;
let sink: Server;
/** What the sink received, per connection, in order. */
const received: Buffer[][] = [];

const listen = async (server: Server) => {
  await new Promise<void>((r) => server.listen(0, HOST, r));
  return (server.address() as { port: number }).port;
};
let echoPort = 0;
let sinkPort = 0;

before(async () => {
  echo = createServer((s) => {
    s.on('error', () => undefined);
    s.pipe(s);
  });
  sink = createServer((s) => {
    const chunks: Buffer[] = [];
    received.push(chunks);
    s.on('error', () => undefined);
    s.on('data', (c: Buffer) => chunks.push(c));
  });
  echoPort = await listen(echo);
  sinkPort = await listen(sink);
});

after(() => {
  echo.close();
  sink.close();
});

const open = (port: number, name: string) =>
  LinkProxy.open({ name, listen: { host: HOST }, target: { host: HOST, port } });

const dial = (p: LinkProxy) =>
  new Promise<Socket>((resolve, reject) => {
    const s = connect({ host: p.address.host, port: p.address.port }, () => resolve(s));
    s.once('error', reject);
  });

/** Reads `n` bytes from the socket, or what arrived when it closed. */
const readN = (s: Socket, n: number) =>
  new Promise<Buffer>((resolve) => {
    const chunks: Buffer[] = [];
    let got = 0;
    const done = () => resolve(Buffer.concat(chunks));
    s.on('data', (c: Buffer) => {
      chunks.push(c);
      got += c.length;
      if (got >= n) done();
    });
    s.on('close', done);
  });

const waitUntil = async (cond: () => boolean, what: string, ms = 10_000) => {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`never happened: ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
};

const closed = (s: Socket) =>
  new Promise<string>((resolve) => {
    let code = 'none';
    s.on('error', (e: NodeJS.ErrnoException) => (code = e.code ?? e.message));
    s.on('close', () => resolve(code));
  });

test('link proxy - forwards both directions byte for byte', async () => {
  const proxy = await open(echoPort, 'echo');
  try {
    const s = await dial(proxy);
    const data = randomBytes(1 << 20);
    const back = readN(s, data.length);
    s.write(data);
    assert.ok((await back).equals(data), 'the echo came back through the proxy unchanged');
    assert.equal(proxy.bytesUp, data.length);
    s.destroy();
  } finally {
    await proxy.close();
  }
});

test('link proxy - cutAt lets exactly offset bytes through, then resets the connection', async () => {
  const proxy = await open(sinkPort, 'sink-cut');
  try {
    const offset = 123_457;
    const fired = proxy.cutAt(offset);
    const before = received.length;
    const s = await dial(proxy);
    const ended = closed(s);
    s.write(randomBytes(400_000));
    const f = await fired;
    assert.deepEqual(f, { rule: 'cut', offset, connection: 1 });
    assert.equal(await ended, 'ECONNRESET', 'the client sees a reset, not a clean end');
    await waitUntil(() => proxy.connections === 0, 'the proxy forgot the connection');
    const got = Buffer.concat(received[before] ?? []);
    assert.equal(got.length, offset, 'the server got exactly the bytes before the offset');
  } finally {
    await proxy.close();
  }
});

test('link proxy - corruptAt flips exactly the one byte at the offset', async () => {
  const proxy = await open(sinkPort, 'sink-corrupt');
  try {
    const offset = 70_001;
    const fired = proxy.corruptAt(offset);
    const before = received.length;
    const s = await dial(proxy);
    const data = randomBytes(200_000);
    s.write(data);
    await fired;
    await waitUntil(() => Buffer.concat(received[before] ?? []).length === data.length, 'all bytes arrived');
    const got = Buffer.concat(received[before]!);
    const diff = [...got.keys()].filter((i) => got[i] !== data[i]);
    assert.deepEqual(diff, [offset]);
    assert.equal(got[offset], data[offset]! ^ 0xff);
    s.destroy();
  } finally {
    await proxy.close();
  }
});

test('link proxy - corruptWhere shows each chunk of a connection in order from its start, and flips the byte it picks', async () => {
  const proxy = await open(sinkPort, 'sink-choose');
  try {
    const seen: { offset: number; length: number; connection: number }[] = [];
    const pick = 123_457;
    const fired = proxy.corruptWhere((chunk, offset, connection) => {
      seen.push({ offset, length: chunk.length, connection });
      return pick >= offset && pick < offset + chunk.length ? pick : undefined;
    });
    const before = received.length;
    const s = await dial(proxy);
    const data = randomBytes(200_000);
    s.write(data);
    assert.deepEqual(await fired, { rule: 'corrupt', offset: pick, connection: seen[0]!.connection });
    await waitUntil(() => Buffer.concat(received[before] ?? []).length === data.length, 'all bytes arrived');
    const got = Buffer.concat(received[before]!);
    assert.deepEqual(
      [...got.keys()].filter((i) => got[i] !== data[i]),
      [pick],
    );
    assert.equal(seen[0]!.offset, 0, 'from the first byte');
    for (let i = 1; i < seen.length; i++)
      assert.equal(seen[i]!.offset, seen[i - 1]!.offset + seen[i - 1]!.length);
    s.destroy();
  } finally {
    await proxy.close();
  }
});

test('link proxy - a throttle holds the stream back until lifted', async () => {
  const proxy = await open(sinkPort, 'sink-throttle');
  try {
    proxy.throttle(64 * 1024);
    const before = received.length;
    const s = await dial(proxy);
    const data = randomBytes(1 << 20);
    s.write(data);
    await new Promise((r) => setTimeout(r, 500));
    const early = Buffer.concat(received[before] ?? []).length;
    // At 64 KiB/s at most ~32 KiB + one 50 ms bucket can pass in half a second, however fast the machine.
    assert.ok(early < 256 * 1024, `only part of the stream passed the throttle (${early} bytes)`);
    proxy.throttle(null);
    await waitUntil(() => Buffer.concat(received[before] ?? []).length === data.length, 'the rest arrived');
    assert.ok(Buffer.concat(received[before]!).equals(data));
    s.destroy();
  } finally {
    await proxy.close();
  }
});

test('link proxy - throttled, the proxy still yields: this process answers its timers within 100 ms', async () => {
  const proxy = await open(sinkPort, 'sink-throttle-yields');
  const lag = monitorEventLoopDelay({ resolution: 5 });
  try {
    proxy.throttle(2 * 1024 * 1024);
    const before = received.length;
    const s = await dial(proxy);
    s.write(randomBytes(8 << 20));
    await new Promise((r) => setTimeout(r, 300));
    lag.enable();
    await new Promise((r) => setTimeout(r, 1500));
    lag.disable();
    const passed = Buffer.concat(received[before] ?? []).length;
    // The link proxies of a drill share one event loop: a throttled stream must not starve the others.
    assert.ok(lag.max < 100e6, `the event loop was held for ${Math.round(lag.max / 1e6)} ms`);
    assert.ok(passed > 1 << 20 && passed < 5 << 20, `about 2 MiB/s passed (${passed} bytes in 1.8 s)`);
    s.destroy();
  } finally {
    lag.disable();
    await proxy.close();
  }
});

test('link proxy - a blackhole answers nothing and resets nothing; healed, everything goes through', async () => {
  const proxy = await open(echoPort, 'echo-partition');
  try {
    const old = await dial(proxy);
    const oldBack = readN(old, 5);
    proxy.blackhole();
    old.write('hello');
    let oldClosed = false;
    old.on('close', () => (oldClosed = true));
    // A new connection is accepted (the SYN is answered by the local kernel) but never served.
    const fresh = await dial(proxy);
    const freshBack = readN(fresh, 5);
    fresh.write('world');
    let answered = false;
    void freshBack.then(() => (answered = true));
    void oldBack.then(() => (answered = true));
    await new Promise((r) => setTimeout(r, 500));
    assert.equal(answered, false, 'nothing came back through the partition');
    assert.equal(oldClosed, false, 'the old connection was neither reset nor ended');
    proxy.heal();
    assert.equal((await oldBack).toString(), 'hello');
    assert.equal((await freshBack).toString(), 'world');
    old.destroy();
    fresh.destroy();
  } finally {
    await proxy.close();
  }
});

test('link proxy - refuses a listen address off loopback', async () => {
  await assert.rejects(
    LinkProxy.open({ name: 'x', listen: { host: '0.0.0.0' }, target: { host: HOST, port: 1 } }),
    /loopback/,
  );
});

test('link proxy - a blackhole of one peer address holds only the connections from it', async () => {
  const proxy = await open(echoPort, 'echo-peer');
  try {
    const dialFrom = (localAddress: string) =>
      new Promise<Socket>((resolve, reject) => {
        const s = connect({ host: proxy.address.host, port: proxy.address.port, localAddress }, () =>
          resolve(s),
        );
        s.once('error', reject);
      });
    const cutOff = await dialFrom('127.0.3.2');
    const other = await dialFrom('127.0.3.3');
    proxy.blackhole('127.0.3.2');
    const held = readN(cutOff, 3);
    let heldBack = false;
    void held.then(() => (heldBack = true));
    cutOff.write('abc');
    other.write('xyz');
    assert.equal((await readN(other, 3)).toString(), 'xyz', 'the other peer is served');
    assert.equal(heldBack, false, 'the partitioned peer is not');
    proxy.heal();
    assert.equal((await held).toString(), 'abc');
    cutOff.destroy();
    other.destroy();
  } finally {
    await proxy.close();
  }
});

test('link proxy - a cut armed after the stream passed its offset fires at the next byte', async () => {
  const proxy = await open(sinkPort, 'sink-late-cut');
  try {
    const before = received.length;
    const s = await dial(proxy);
    const ended = closed(s);
    s.write(randomBytes(50_000));
    await waitUntil(() => Buffer.concat(received[before] ?? []).length === 50_000, 'the first bytes arrived');
    const fired = proxy.cutAt(10_000);
    s.write(randomBytes(1000));
    assert.deepEqual(await fired, { rule: 'cut', offset: 50_000, connection: 1 });
    assert.equal(await ended, 'ECONNRESET');
    assert.equal(Buffer.concat(received[before]!).length, 50_000, 'nothing after the cut reached the server');
  } finally {
    await proxy.close();
  }
});

// The QMP client against a scripted QMP server on a unix socket.
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import type { Server, Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { MAX_QMP_LINE_CHARS, QmpClient } from '../../hosts/qmp/client.ts';
import { QmpCommandError, QmpConnectionError, QmpProtocolError } from '../../hosts/qmp/errors.ts';

const GREETING = {
  QMP: { version: { qemu: { major: 7, minor: 2, micro: 22 }, package: 'Debian' }, capabilities: ['oob'] },
};
const dirs: string[] = [];
after(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

/** A server that greets, then answers each command with `answer(command, id, socket)`. */
async function fakeQmp(
  answer: (cmd: { execute: string; id: unknown; arguments?: unknown }, s: Socket) => void,
): Promise<{ path: string; server: Server; seen: unknown[] }> {
  const dir = await mkdtemp(join(tmpdir(), 'ferry-qmp-'));
  dirs.push(dir);
  const path = join(dir, 'qmp.sock');
  const seen: unknown[] = [];
  const server = createServer((s) => {
    s.write(`${JSON.stringify(GREETING)}\r\n`);
    let buf = '';
    s.on('data', (d) => {
      buf += d.toString();
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const cmd = JSON.parse(buf.slice(0, nl)) as { execute: string; id: unknown };
        buf = buf.slice(nl + 1);
        seen.push(cmd);
        if (cmd.execute === 'qmp_capabilities') s.write(`${JSON.stringify({ return: {}, id: cmd.id })}\r\n`);
        else answer(cmd, s);
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(path, resolve));
  return { path, server, seen };
}

void test('qmp client - greets, negotiates capabilities, and matches answers to commands by id', async () => {
  const { path, server, seen } = await fakeQmp((cmd, s) => {
    if (cmd.execute === 'query-status') {
      // Answer out of order with an event in between: ids, not order, match answers.
      setTimeout(
        () => s.write(`${JSON.stringify({ return: { status: 'paused', running: false }, id: cmd.id })}\r\n`),
        20,
      );
    } else {
      s.write(`${JSON.stringify({ event: 'STOP', timestamp: { seconds: 1, microseconds: 2 } })}\r\n`);
      s.write(`${JSON.stringify({ return: 'pc.ram 4 KiB\r\n', id: cmd.id })}\r\n`);
    }
  });
  const qmp = await QmpClient.connect(path);
  try {
    assert.equal(qmp.greeting.QMP.version.qemu.major, 7);
    const stop = qmp.waitForEvent('STOP');
    const [status, text] = await Promise.all([
      qmp.execute('query-status'),
      qmp.execute('human-monitor-command', { 'command-line': 'info ramblock' }),
    ]);
    assert.deepEqual(status, { status: 'paused', running: false });
    assert.equal(text, 'pc.ram 4 KiB\r\n');
    assert.equal((await stop).event, 'STOP');
    assert.deepEqual(seen[2], {
      execute: 'human-monitor-command',
      arguments: { 'command-line': 'info ramblock' },
      id: 3,
    });
  } finally {
    qmp.close();
    server.close();
  }
});

void test('qmp client - QEMU errors become QmpCommandError, bad answers QmpProtocolError, a lost socket QmpConnectionError', async () => {
  const { path, server } = await fakeQmp((cmd, s) => {
    if (cmd.execute === 'migrate') {
      s.write(
        `${JSON.stringify({ error: { class: 'GenericError', desc: 'migration already running' }, id: cmd.id })}\r\n`,
      );
    } else if (cmd.execute === 'query-migrate') {
      s.write(`${JSON.stringify({ return: { status: 42 }, id: cmd.id })}\r\n`);
    } else {
      s.destroy();
    }
  });
  const qmp = await QmpClient.connect(path);
  try {
    await assert.rejects(qmp.execute('migrate', { uri: 'exec:cat > /dev/null' }), (e: unknown) => {
      assert.ok(e instanceof QmpCommandError);
      assert.equal(e.code, 'QMP_COMMAND_FAILED');
      assert.match(e.message, /GenericError: migration already running/);
      return true;
    });
    await assert.rejects(qmp.execute('query-migrate'), QmpProtocolError);
    await assert.rejects(qmp.execute('cont'), QmpConnectionError);
    await assert.rejects(qmp.execute('stop'), QmpConnectionError);
  } finally {
    qmp.close();
    server.close();
  }
});

void test('qmp client - connecting to a socket that never appears fails with QmpConnectionError', async () => {
  await assert.rejects(QmpClient.connect('/nonexistent/ferry-qmp.sock', 300), QmpConnectionError);
});

/** Writes `total` characters with no newline, in 64 KiB chunks, until done or the socket is gone. */
function endlessLine(s: Socket, total: number): Promise<number> {
  const chunk = 'x'.repeat(64 * 1024);
  return new Promise((resolve) => {
    let sent = 0;
    const more = (): void => {
      while (sent < total && !s.destroyed) {
        sent += chunk.length;
        if (!s.write(chunk)) {
          s.once('drain', more);
          return;
        }
      }
      resolve(sent);
    };
    s.once('close', () => resolve(sent));
    s.on('error', () => undefined); // the client cuts the connection: EPIPE/ECONNRESET here
    more();
  });
}

void test('qmp client - a peer that sends an endless line is cut off with a clear error, and nothing else breaks', async () => {
  let peerClosed!: Promise<number>;
  const { path, server } = await fakeQmp((cmd, s) => {
    if (cmd.execute === 'query-status') peerClosed = endlessLine(s, 64 * MAX_QMP_LINE_CHARS);
  });
  const qmp = await QmpClient.connect(path);
  const before = process.memoryUsage().rss;
  await assert.rejects(qmp.execute('query-status'), (err: Error) => {
    assert.ok(err instanceof QmpProtocolError, err.message);
    assert.match(err.message, new RegExp(`longer than ${MAX_QMP_LINE_CHARS} characters`));
    return true;
  });
  // The peer stopped being read long before its 64 Mi characters: it sees its connection end.
  const sent = await peerClosed;
  assert.ok(sent < 64 * MAX_QMP_LINE_CHARS, `the peer wrote ${sent} characters before the cut`);
  assert.ok(process.memoryUsage().rss - before < 48 * MAX_QMP_LINE_CHARS, 'the line was not buffered whole');
  // The client is shut for good: the next command fails at once with the same reason.
  await assert.rejects(qmp.execute('query-status'), /longer than/);
  server.close();
});

void test('qmp client - an endless greeting fails the connect with the line-length error, not a retry', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'ferry-qmp-'));
  dirs.push(dir);
  const path = join(dir, 'qmp.sock');
  let connections = 0;
  const server = createServer((s) => {
    connections++;
    void endlessLine(s, 8 * MAX_QMP_LINE_CHARS);
  });
  await new Promise<void>((resolve) => server.listen(path, resolve));
  await assert.rejects(QmpClient.connect(path, 5000), (err: Error) => {
    assert.ok(err instanceof QmpProtocolError, `${err.constructor.name}: ${err.message}`);
    assert.match(err.message, /longer than/);
    return true;
  });
  assert.equal(connections, 1, 'a peer that broke the protocol is not dialled again');
  server.close();
});

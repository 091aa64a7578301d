// A guest runner: `node .build/KEY/bundle/runner.js --socket SOCKET`, one process that hosts many
// emulated guests of one host (an agent started with --guest-runner). A guest process costs 55-60 MB
// of RSS whatever it holds, so a few hundred guests on one machine need a few processes, not a few
// hundred. Each guest keeps what a guest process has: its own QMP socket, log and migration
// sockets, a pid-like identity (runner-protocol.ts), and a kill that ends it alone, at once.
//
// The agent drives it over SOCKET (runner-protocol.ts): start, kill, list, and notices of guests
// that end by themselves. Like a guest process it outlives its agent (started detached, SIGHUP
// ignored), and a restarted agent reconnects to it. It ends once it hosts no guest and no agent is
// connected (or none connected within START_GRACE_MS of its start); SIGTERM ends every guest as
// SIGTERM ends a guest process (SHUTDOWN, exit 0), then the runner.
import { createWriteStream, rmSync } from 'node:fs';
import { createServer, type Socket } from 'node:net';
import { parseArgs } from 'node:util';
import { createLogger } from '../../infra/logging/logger.ts';
import type { EmulatedGuest } from './guest.ts';
import type { QmpServer } from './qmp-server.ts';
import {
  GUEST_NUMBERS,
  guestIdentity,
  lineReader,
  RunnerRequestSchema,
  type RunnerGuest,
  type RunnerMessage,
  type RunnerRequest,
} from './runner-protocol.ts';
import { serveGuest } from './serve.ts';

/** How long a new runner waits for its agent to connect before it ends. */
const START_GRACE_MS = 30_000;
/** With no guest and no agent, the runner ends after this (an agent restarting reconnects first). */
const IDLE_MS = 2_000;

interface Hosted {
  n: number;
  name: string;
  guest: EmulatedGuest;
  server: QmpServer;
  closeLog(): void;
  gone: boolean;
}

process.stdout.on('error', () => undefined);
process.stderr.on('error', () => undefined);

const { values } = parseArgs({ options: { socket: { type: 'string' } }, strict: true });
if (values.socket === undefined) {
  process.stderr.write('guest runner: usage: runner.js --socket SOCKET\n');
  process.exit(2);
}
const socketPath = values.socket;
const log = createLogger('guest-runner');
const guests = new Map<number, Hosted>();
const clients = new Set<Socket>();
let nextNumber = 1;
let idleTimer: NodeJS.Timeout | undefined = setTimeout(() => process.exit(0), START_GRACE_MS);

function describe(h: Hosted): RunnerGuest {
  return { guest: h.n, name: h.name, pid: guestIdentity(process.pid, h.n) };
}

/** The next free guest number: counts up and wraps, skipping live guests. */
function allocate(): number {
  for (let tries = 0; tries < GUEST_NUMBERS; tries++) {
    const n = nextNumber;
    nextNumber = nextNumber + 1 >= GUEST_NUMBERS ? 1 : nextNumber + 1;
    if (!guests.has(n)) return n;
  }
  throw new Error(`the runner already hosts ${guests.size} guests`);
}

function broadcast(message: RunnerMessage): void {
  const line = JSON.stringify(message) + '\n';
  for (const c of clients) if (c.writable) c.write(line);
}

function settleIdle(): void {
  if (idleTimer !== undefined) clearTimeout(idleTimer);
  idleTimer =
    guests.size === 0 && clients.size === 0 ? setTimeout(() => process.exit(0), IDLE_MS) : undefined;
}

async function start(req: Extract<RunnerRequest, { op: 'start' }>): Promise<RunnerGuest> {
  const n = allocate();
  const file = createWriteStream(req.log, { flags: 'a' });
  file.on('error', () => undefined); // a guest's log is not worth the other guests
  const guestLog = createLogger(`guest-sim/${req.spec.name}`, req.spec.logLevel, (line) => {
    if (!file.writableEnded) file.write(line + '\n');
  });
  const state = { gone: false };
  const { guest, server } = serveGuest(req.spec, guestLog, () => !state.gone);
  const h: Hosted = Object.assign(state, {
    n,
    name: req.spec.name,
    guest,
    server,
    closeLog: () => file.end(),
  });
  guests.set(n, h);
  // quit, or a failed incoming migration: as main.ts ends a guest process, then a notice.
  guest.exit = (code, reason) => {
    if (h.gone) return;
    h.gone = true;
    guestLog.info('exiting', { code, reason });
    guest.shutdown();
    if (code === 0) guest.emit('SHUTDOWN', { guest: false, reason });
    guest.incoming?.close();
    void server.close().finally(() => {
      guest.kill();
      h.closeLog();
      guests.delete(n);
      broadcast({ notice: 'exited', guest: n, code, reason });
      settleIdle();
    });
  };
  try {
    await server.listen();
  } catch (err) {
    kill(h);
    throw new Error(`cannot listen on the QMP socket ${req.spec.qmpSocket}: ${(err as Error).message}`);
  }
  guestLog.info('emulated guest started', {
    pid: guestIdentity(process.pid, n),
    runner: process.pid,
    memoryMiB: req.spec.memoryMiB,
    dirtyPagesPerSecond: req.spec.dirtyPagesPerSecond,
    state: guest.runState,
    qmp: req.spec.qmpSocket,
  });
  return describe(h);
}

/** As SIGKILL ends a guest process: at once, nothing sent, nothing flushed. */
function kill(h: Hosted): void {
  h.gone = true;
  h.guest.kill();
  h.server.destroy();
  h.closeLog();
  guests.delete(h.n);
  settleIdle();
}

async function handle(req: RunnerRequest): Promise<RunnerMessage> {
  switch (req.op) {
    case 'start':
      return { id: req.id, ok: true, started: await start(req) };
    case 'kill': {
      const h = guests.get(req.guest);
      if (!h) return { id: req.id, ok: false, error: `no guest ${req.guest} in this runner` };
      kill(h);
      log.info('guest killed', { guest: req.guest, name: h.name });
      return { id: req.id, ok: true, killed: req.guest };
    }
    case 'list':
      return { id: req.id, ok: true, guests: [...guests.values()].filter((h) => !h.gone).map(describe) };
  }
}

function accept(conn: Socket): void {
  clients.add(conn);
  settleIdle();
  const reply = (m: RunnerMessage) => {
    if (conn.writable) conn.write(JSON.stringify(m) + '\n');
  };
  conn.setEncoding('utf8');
  conn.on(
    'data',
    lineReader(
      RunnerRequestSchema,
      (req) => {
        handle(req).then(reply, (err: unknown) => reply({ id: req.id, ok: false, error: String(err) }));
      },
      (why) => {
        log.warn('bad request', { why });
        reply({ id: -1, ok: false, error: `bad request: ${why}` });
      },
    ),
  );
  conn.on('error', () => undefined); // an agent that vanished reconnects, or the runner idles out
  conn.on('close', () => {
    clients.delete(conn);
    settleIdle();
  });
}

process.on('SIGHUP', () => log.info('SIGHUP ignored: the guests outlive their agent'));
const stopAll = () => {
  for (const h of guests.values()) h.guest.exit(0, 'host-signal');
  if (guests.size === 0) process.exit(0);
  setInterval(() => guests.size === 0 && process.exit(0), 50);
};
process.on('SIGTERM', stopAll);
process.on('SIGINT', stopAll);
process.on('uncaughtException', (err) => {
  log.error('bug in the guest runner: every guest it hosts ends', { error: err.message, stack: err.stack });
  process.exit(70);
});

rmSync(socketPath, { force: true });
const control = createServer(accept);
control.on('error', (err) => {
  log.error('control socket failed', { path: socketPath, error: err.message });
  process.exit(1);
});
control.listen(socketPath, () =>
  log.info('guest runner listening', { pid: process.pid, socket: socketPath }),
);

// The emulated guest process: `node .build/KEY/bundle/guest.js --spec FILE` (or --spec-json JSON,
// or --standby SOCKET AGENT_PID to wait for its spec from an agent: standby.ts). It lives on its
// own like a QEMU process: it ignores SIGHUP and the loss of its parent, stdin and stdout, logs to
// stderr, and ends on `quit`, SIGTERM/SIGINT (exit 0) or a failed incoming migration (exit 1).
// Exit code 2: a bad spec.
import { isFerryError } from '../../errors/ferry-error.ts';
import { createLogger } from '../../infra/logging/logger.ts';
import { serveGuest } from './serve.ts';
import { parseGuestArgv } from './spec.ts';
import { awaitAdoption, type Adoption } from './standby.ts';
import type { ResolvedGuestSpec } from './spec.ts';

process.stdout.on('error', () => undefined);
process.stderr.on('error', () => undefined);

let spec: ResolvedGuestSpec;
let adoption: Adoption | undefined;
try {
  const argv = process.argv.slice(2);
  if (argv[0] === '--standby' && argv[1] !== undefined && argv.length === 3) {
    adoption = await awaitAdoption(argv[1], Number(argv[2]));
    spec = adoption.spec;
  } else {
    spec = parseGuestArgv(argv);
  }
} catch (err) {
  process.stderr.write(`${isFerryError(err) ? err.message : String(err)}\n`);
  process.exit(2);
}

const log = createLogger(`guest-sim/${spec.name}`, spec.logLevel);
const { guest, server } = serveGuest(spec, log);

let exiting = false;
guest.exit = (code, reason) => {
  if (exiting) return;
  exiting = true;
  log.info('exiting', { code, reason });
  guest.shutdown();
  if (code === 0) guest.emit('SHUTDOWN', { guest: false, reason });
  guest.incoming?.close();
  void server.close().finally(() => process.exit(code));
};

process.on('SIGTERM', () => guest.exit(0, 'host-signal'));
process.on('SIGINT', () => guest.exit(0, 'host-signal'));
process.on('SIGHUP', () => log.info('SIGHUP ignored: the guest outlives its parent'));
process.on('uncaughtException', (err) => {
  log.error('bug in the emulated guest', { error: err.message, stack: err.stack });
  process.exit(70);
});

try {
  await server.listen();
} catch (err) {
  log.error('cannot listen on the QMP socket', { path: spec.qmpSocket, error: err as Error });
  adoption?.failed(`cannot listen on the QMP socket ${spec.qmpSocket}: ${(err as Error).message}`);
  process.exit(1);
}
adoption?.ready();
log.info('emulated guest started', {
  pid: process.pid,
  memoryMiB: spec.memoryMiB,
  dirtyPagesPerSecond: spec.dirtyPagesPerSecond,
  state: guest.runState,
  qmp: spec.qmpSocket,
});

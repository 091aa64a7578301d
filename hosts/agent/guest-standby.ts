// The agent's standby emulated guest: one process started ahead of need, which the next emulated
// guest start (Prepare's incoming guest above all) adopts instead of starting a process then
// (hosts/guest-sim/standby.ts says what the process does). Adopting takes a few milliseconds where
// a start took ~300 ms; a new standby is started behind each adoption. Nothing changes for the
// guest: it has its own pid file, log, QMP socket and directory, and is killed alone by its pid.
import { mkdirSync, renameSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { startDaemon } from '../../infra/process/daemon.ts';
import { guestEnvironment } from '../guests/environment.ts';
import type { Logger } from '../../infra/logging/logger.ts';
import { isSameProcessAlive, writePidFile, type PidRecord } from '../../infra/process/pid-file.ts';
import { emulatedStandbyCommand } from '../guest-sim/launch.ts';
import type { ResolvedGuestSpec } from '../guest-sim/spec.ts';

/** How long an adoption waits for a standby still starting (it is then no slower than a start). */
const ADOPT_MS = 20_000;
const CONNECT_RETRY_MS = 5;

interface Waiting {
  record: PidRecord;
  socket: string;
  log: string;
  pidPath: string;
}

export class GuestStandby {
  private waiting: Waiting | undefined;
  private counter = 0;
  private stopped = false;

  /** `dir` holds the standby's socket, log and pid file until it is adopted; emptied at start. */
  constructor(
    private readonly dir: string,
    private readonly log: Logger,
  ) {
    rmSync(dir, { recursive: true, force: true });
    mkdirSync(dir, { recursive: true });
  }

  /** Starts a standby process unless one waits. */
  refill(): void {
    if (this.stopped || (this.waiting && isSameProcessAlive(this.waiting.record))) return;
    const name = `standby-${process.pid}-${++this.counter}`;
    const socket = join(this.dir, `${name}.sock`);
    const log = join(this.dir, `${name}.log`);
    const { command, args } = emulatedStandbyCommand(socket);
    try {
      const pidPath = join(this.dir, `${name}.pid`);
      const record = startDaemon({ command, args, env: guestEnvironment(), logPath: log, pidPath });
      this.waiting = { record, socket, log, pidPath };
    } catch (err) {
      this.waiting = undefined;
      this.log.warn('could not start a standby guest process; guests start cold', {
        error: (err as Error).message,
      });
    }
  }

  /**
   * Makes the waiting standby the guest `spec` describes: its log becomes `paths.log`, its pid
   * file `paths.pid`, and it answers once its QMP socket listens. Undefined when no live standby
   * waits (the caller starts the guest cold); throws if the standby refused the spec or died.
   */
  async adopt(spec: ResolvedGuestSpec, paths: { log: string; pid: string }): Promise<PidRecord | undefined> {
    const standby = this.waiting;
    this.waiting = undefined;
    if (!standby || !isSameProcessAlive(standby.record)) return undefined;
    try {
      renameSync(standby.log, paths.log); // the process keeps writing to the same open file
      rmSync(standby.pidPath, { force: true });
      const record = writePidFile(paths.pid, standby.record.pid, standby.record.command);
      const answer = await this.handOver(standby, spec);
      if (answer !== 'ready') throw new Error(answer.replace(/^error /, ''));
      return record;
    } finally {
      this.refill();
    }
  }

  /** Kills a standby that waits (it is nobody's guest yet). */
  stop(): void {
    this.stopped = true;
    const standby = this.waiting;
    this.waiting = undefined;
    if (standby && isSameProcessAlive(standby.record)) process.kill(standby.record.pid, 'SIGKILL');
    rmSync(this.dir, { recursive: true, force: true });
  }

  /** Sends the spec; resolves with the standby's one-line answer. */
  private async handOver(standby: Waiting, spec: ResolvedGuestSpec): Promise<string> {
    const deadline = Date.now() + ADOPT_MS;
    for (;;) {
      try {
        return await exchange(standby.socket, `${JSON.stringify(spec)}\n`, deadline - Date.now());
      } catch (err) {
        // Not listening yet (it was started a moment ago): try again while it lives.
        const refused = (err as NodeJS.ErrnoException).code;
        if ((refused !== 'ENOENT' && refused !== 'ECONNREFUSED') || Date.now() > deadline) throw err;
        if (!isSameProcessAlive(standby.record)) throw new Error('the standby guest process exited');
        await sleep(CONNECT_RETRY_MS);
      }
    }
  }
}

function exchange(socketPath: string, line: string, timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const conn = connect(socketPath);
    let answer = '';
    const timer = setTimeout(() => {
      conn.destroy();
      reject(new Error(`the standby guest did not answer within ${timeoutMs} ms`));
    }, timeoutMs);
    conn.setEncoding('utf8');
    conn.on('connect', () => conn.write(line));
    conn.on('data', (chunk: string) => (answer += chunk));
    conn.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    conn.on('close', () => {
      clearTimeout(timer);
      const first = answer.split('\n')[0] ?? '';
      if (first === '') reject(new Error('the standby guest closed without an answer'));
      else resolve(first);
    });
  });
}

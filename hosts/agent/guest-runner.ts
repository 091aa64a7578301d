// The agent's side of a guest runner (hosts/guest-sim/runner.ts): one process per host that hosts
// the host's emulated guests when the agent runs with --guest-runner. It lives in
// STATE/hosts/<host>/guest-runner/ (runner.pid, runner.sock, runner.log), started detached like a
// guest process, so it outlives the agent; a restarted agent connects to the one that runs. Each
// guest it hosts is a GuestProcess with its own identity, and its guest directory holds
// runner-guest.json (which runner, which number) in place of guest.pid.
import { readFileSync, rmSync, mkdirSync, writeFileSync } from 'node:fs';
import { connect, type Socket } from 'node:net';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { z } from 'zod';
import type { Logger } from '../../infra/logging/logger.ts';
import { startDaemon } from '../../infra/process/daemon.ts';
import { guestEnvironment } from '../guests/environment.ts';
import { isSameProcessAlive, readLivePidFile, type PidRecord } from '../../infra/process/pid-file.ts';
import { guestRunnerCommand } from '../guest-sim/launch.ts';
import {
  lineReader,
  RunnerMessageSchema,
  type RunnerGuest,
  type RunnerMessage,
  type RunnerRequestInput,
} from '../guest-sim/runner-protocol.ts';
import type { EmulatedGuestSpec } from '../guest-sim/spec.ts';
import type { GuestProcess } from './guest-process.ts';

/** How long the agent waits for a runner it started to listen. */
const CONNECT_MS = 20_000;
const CONNECT_RETRY_MS = 10;
/** A request the runner does not answer within this fails (a start takes milliseconds). */
const REQUEST_MS = 20_000;

/** What a guest directory says about the runner guest it holds. */
const RunnerGuestFileSchema = z.object({
  runner: z.object({ pid: z.number().int(), startTime: z.string() }),
  guest: z.number().int(),
  pid: z.number().int(),
});

type Answer = Extract<RunnerMessage, { id: number }>;
/** A request without its id (request() numbers it). */
type Request = RunnerRequestInput extends infer R ? (R extends unknown ? Omit<R, 'id'> : never) : never;

export class GuestRunner {
  private nextId = 1;
  private readonly pending = new Map<number, { resolve(m: Answer): void; reject(e: Error): void }>();
  /** Guests of this runner the agent holds, by number. */
  private readonly held = new Map<number, RunnerGuestProcess>();
  private closed = false;

  private constructor(
    readonly record: PidRecord,
    private readonly conn: Socket,
    private readonly log: Logger,
  ) {
    conn.setEncoding('utf8');
    conn.on(
      'data',
      lineReader(
        RunnerMessageSchema,
        (m) => this.onMessage(m),
        (why) => log.error('the guest runner sent a bad line', { why }),
      ),
    );
    conn.on('error', (err) => log.warn('guest runner connection error', { error: err.message }));
    conn.on('close', () => {
      for (const p of this.pending.values()) p.reject(new Error('the guest runner connection closed'));
      this.pending.clear();
      if (!this.closed) log.warn('guest runner connection closed', { runnerAlive: this.runnerAlive() });
      // Its guests then count as gone as soon as the runner process is (alive() checks it).
    });
  }

  /**
   * Connects to the runner that runs in `dir`; when none runs, starts one if `start`, else
   * undefined.
   */
  static async open(dir: string, log: Logger, start: boolean): Promise<GuestRunner | undefined> {
    const paths = runnerPaths(dir);
    const found = readLivePidFile(paths.pid);
    if (found) {
      const runner = await GuestRunner.connect(paths, found, log);
      if (runner) return runner;
      // It ended while we connected (an idle runner ends 2 s after its agent left): start anew.
    }
    if (!start) return undefined;
    mkdirSync(dir, { recursive: true });
    rmSync(paths.socket, { force: true });
    const { command, args } = guestRunnerCommand(paths.socket);
    const record = startDaemon({
      command,
      args,
      env: guestEnvironment(),
      logPath: paths.log,
      pidPath: paths.pid,
    });
    log.info('guest runner started', { pid: record.pid, socket: paths.socket });
    const runner = await GuestRunner.connect(paths, record, log);
    if (!runner) throw new Error(`the guest runner exited before it listened: read ${paths.log}`);
    return runner;
  }

  /** Connects to the runner `record` names; undefined if it exits first. */
  private static async connect(
    paths: ReturnType<typeof runnerPaths>,
    record: PidRecord,
    log: Logger,
  ): Promise<GuestRunner | undefined> {
    const deadline = Date.now() + CONNECT_MS;
    for (;;) {
      try {
        const conn = await connectOnce(paths.socket);
        return new GuestRunner(record, conn, log);
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        if ((code !== 'ENOENT' && code !== 'ECONNREFUSED') || Date.now() > deadline) throw err;
        if (!isSameProcessAlive(record)) return undefined;
        await sleep(CONNECT_RETRY_MS);
      }
    }
  }

  runnerAlive(): boolean {
    return isSameProcessAlive(this.record);
  }

  /** Starts a guest; resolves once its QMP socket listens. `files.runnerGuest` then names it. */
  async start(
    spec: EmulatedGuestSpec,
    files: { log: string; runnerGuest: string },
  ): Promise<RunnerGuestProcess> {
    const answer = await this.request({ op: 'start', spec, log: files.log });
    if (!answer.ok) throw new Error(answer.error);
    if (!('started' in answer)) throw new Error(`the guest runner answered ${JSON.stringify(answer)}`);
    const g = answer.started;
    const proc = this.hold(g);
    const file = {
      runner: { pid: this.record.pid, startTime: this.record.startTime },
      guest: g.guest,
      pid: g.pid,
    };
    writeFileSync(files.runnerGuest, JSON.stringify(file) + '\n');
    return proc;
  }

  /** After an agent restart: the guest `file` names, if this runner still hosts it. */
  async reattach(file: string): Promise<RunnerGuestProcess | undefined> {
    const named = RunnerGuestFileSchema.safeParse(readJson(file));
    if (!named.success) return undefined;
    const { runner, guest } = named.data;
    if (runner.pid !== this.record.pid || runner.startTime !== this.record.startTime) return undefined;
    const listed = await this.list();
    const g = listed.find((x) => x.guest === guest);
    return g ? this.hold(g) : undefined;
  }

  async list(): Promise<RunnerGuest[]> {
    const answer = await this.request({ op: 'list' });
    if (!answer.ok) throw new Error(answer.error);
    if (!('guests' in answer)) throw new Error(`the guest runner answered ${JSON.stringify(answer)}`);
    return answer.guests;
  }

  /** Kills one guest; resolves once the runner has dropped it (or if it was gone already). */
  async kill(guest: number): Promise<void> {
    const proc = this.held.get(guest);
    this.held.delete(guest);
    if (proc) proc.exited = true;
    if (!this.runnerAlive()) return;
    const answer = await this.request({ op: 'kill', guest });
    // "no such guest": it exited on its own a moment ago, which is as gone as killed.
    if (!answer.ok)
      this.log.info('guest runner: kill of a guest already gone', { guest, error: answer.error });
  }

  /** Leaves the runner and its guests running (the agent is going away). */
  close(): void {
    this.closed = true;
    this.conn.end();
  }

  private hold(g: RunnerGuest): RunnerGuestProcess {
    const proc = new RunnerGuestProcess(this, g.guest, g.pid);
    this.held.set(g.guest, proc);
    return proc;
  }

  private request(req: Request): Promise<Answer> {
    const id = this.nextId++;
    return new Promise<Answer>((resolve, reject) => {
      if (this.conn.destroyed) {
        reject(new Error('the guest runner connection is closed'));
        return;
      }
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new Error(`the guest runner did not answer ${req.op} within ${REQUEST_MS} ms`));
      }, REQUEST_MS);
      this.pending.set(id, {
        resolve: (m) => {
          clearTimeout(timer);
          resolve(m);
        },
        reject: (e) => {
          clearTimeout(timer);
          reject(e);
        },
      });
      this.conn.write(JSON.stringify({ ...req, id }) + '\n');
    });
  }

  private onMessage(m: RunnerMessage): void {
    if ('notice' in m) {
      const proc = this.held.get(m.guest);
      this.held.delete(m.guest);
      if (proc) proc.exited = true;
      this.log.info('guest runner: a guest exited', { guest: m.guest, code: m.code, reason: m.reason });
      return;
    }
    const waiting = this.pending.get(m.id);
    if (!waiting) {
      this.log.error('guest runner: an answer nobody waits for', { message: JSON.stringify(m) });
      return;
    }
    this.pending.delete(m.id);
    waiting.resolve(m);
  }
}

/** One guest of a runner. */
export class RunnerGuestProcess implements GuestProcess {
  exited = false;

  constructor(
    private readonly runner: GuestRunner,
    readonly guest: number,
    readonly pid: number,
  ) {}

  alive(): boolean {
    return !this.exited && this.runner.runnerAlive();
  }

  async kill(): Promise<void> {
    await this.runner.kill(this.guest);
  }
}

export function runnerPaths(dir: string) {
  return { pid: join(dir, 'runner.pid'), socket: join(dir, 'runner.sock'), log: join(dir, 'runner.log') };
}

function connectOnce(path: string): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const conn = connect(path);
    conn.once('connect', () => {
      conn.off('error', reject);
      resolve(conn);
    });
    conn.once('error', reject);
  });
}

function readJson(path: string): unknown {
  try {
    return JSON.parse(readFileSync(path, 'utf8'));
  } catch {
    return undefined;
  }
}

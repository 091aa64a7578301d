// The guests one agent runs. Each lives in STATE/hosts/<host>/guests/<vm>/ (guest.json, guest.pid,
// qmp.sock, guest.log) and runs detached, so it outlives the agent as a QEMU process outlives
// libvirtd; a restarted agent finds its guests there and reconnects. With a guest runner (the agent's
// --guest-runner), emulated guests are guests of the host's runner process instead, named by
// runner-guest.json in place of guest.pid; either way the agent holds a GuestProcess.
import { existsSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { startDaemon } from '../../infra/process/daemon.ts';
import { guestEnvironment } from '../guests/environment.ts';
import { tailFile } from '../../infra/process/log-tail.ts';
import { readLivePidFile, type PidRecord } from '../../infra/process/pid-file.ts';
import { privateDir, writePrivateFile } from '../../infra/pki/private-files.ts';
import type { Logger } from '../../infra/logging/logger.ts';
import { QmpClient } from '../qmp/client.ts';
import { checkCapacity, type CapacityPhase, type HostCapacity } from './capacity.ts';
import { GUEST_EXISTS, GUEST_START_FAILED, GUEST_UNKNOWN, GuestError } from './errors.ts';
import { emulatedSpecOf, guestCommand } from './guest-command.ts';
import { OsGuestProcess, type GuestProcess } from './guest-process.ts';
import type { GuestRunner } from './guest-runner.ts';
import type { GuestStandby } from './guest-standby.ts';
import {
  GuestDefinitionSchema,
  type GuestDefinition,
  type GuestDefinitionInput,
} from './guest-definition.ts';
import type { HostGuest } from './host-guest.ts';
import type { Outbox } from '../outbox/outbox.ts';

const QMP_CONNECT_MS = 20_000;
/** While waiting for a new guest's QMP socket: how often to check that its process still lives. */
const EXIT_CHECK_MS = 100;
/** How long describe() waits for a guest's run state. */
const DESCRIBE_QMP_MS = 1000;
interface Running {
  def: GuestDefinition;
  proc: GuestProcess;
  qmp: QmpClient;
}

const WATCH_MS = 500;

export class GuestManager {
  private readonly guests = new Map<string, Running>();
  /** Called once a guest is gone for good (killed, exited), with its definition. */
  onGone: ((vm: string, def: GuestDefinition) => void) | undefined;
  /**
   * Called when the set of guests (and so the memory in use) changed. The agent republishes its
   * registration there and then, so that placement and `ferry status` never wait a heartbeat to see
   * a guest that started or went.
   */
  onChanged: (() => Promise<void>) | undefined;
  /** A process started ahead of need that the next emulated guest adopts (the agent sets it). */
  standby: GuestStandby | undefined;
  /** The host's guest runner, if one runs: its guests are reattached after a restart. */
  runner: GuestRunner | undefined;
  /** Whether new emulated guests start in the runner (the agent's --guest-runner). */
  startInRunner = false;
  /** What this host takes (the agent sets it); every start is checked against it. */
  capacity: HostCapacity | undefined;
  /** Guests whose start is under way, with their memory: counted against the capacity already. */
  private readonly starting = new Map<string, number>();
  /** Notices guests whose process ended by itself (quit, crash, a failed incoming migration). */
  private readonly watcher = setInterval(() => this.reapExited(), WATCH_MS).unref();

  constructor(
    private readonly hostDir: string,
    private readonly host: string,
    private readonly outbox: Outbox,
    private readonly log: Logger,
    private readonly imageCacheDir: string,
  ) {}

  private paths(vm: string) {
    const dir = join(this.hostDir, 'guests', vm);
    return {
      dir,
      def: join(dir, 'guest.json'),
      pid: join(dir, 'guest.pid'),
      /** A runner guest's runner and number (guest-runner.ts), in place of the pid file. */
      runnerGuest: join(dir, 'runner-guest.json'),
      qmp: join(dir, 'qmp.sock'),
      log: join(dir, 'guest.log'),
      /** Where an incoming guest listens (migrate-incoming) and an outgoing one connects (migrate). */
      incoming: join(dir, 'in.sock'),
      outgoing: join(dir, 'out.sock'),
    };
  }

  async start(input: GuestDefinitionInput, migrationId: string | null = null): Promise<{ pid: number }> {
    const def = GuestDefinitionSchema.parse(input);
    const p = this.paths(def.vm);
    if (this.guests.has(def.vm) || this.starting.has(def.vm) || readLivePidFile(p.pid)) {
      throw new GuestError(GUEST_EXISTS, def.vm, this.host, 'a guest of that name already runs here', {
        hint: 'choose another VM name, or stop or kill the running one first',
      });
    }
    // Checked and taken with no await between: two starts cannot both take the last room.
    this.checkRoom(def.vm, def.memoryMiB, migrationId === null ? 'start' : 'prepare');
    this.starting.set(def.vm, def.memoryMiB);
    try {
      return await this.startChecked(def, p, migrationId);
    } finally {
      this.starting.delete(def.vm);
    }
  }

  /**
   * Throws CapacityError (naming host, VM and phase) unless a guest of `memoryMiB` fits beside the
   * guests here and those starting. Prepare asks before it takes anything; start() asks again.
   */
  checkRoom(vm: string, memoryMiB: number, phase: CapacityPhase): void {
    if (!this.capacity) return;
    const startingMiB = [...this.starting.values()].reduce((a, b) => a + b, 0);
    checkCapacity(
      this.capacity,
      { memoryMiB: this.usedMemoryMiB() + startingMiB, guests: this.guests.size + this.starting.size },
      { host: this.host, vm, phase, memoryMiB },
    );
  }

  private async startChecked(
    def: GuestDefinition,
    p: ReturnType<GuestManager['paths']>,
    migrationId: string | null,
  ): Promise<{ pid: number }> {
    rmSync(p.dir, { recursive: true, force: true });
    // Its sockets, log and pid file are the owner's alone, whatever the process umask.
    privateDir(p.dir);
    writePrivateFile(p.def, JSON.stringify(def) + '\n');
    const runner = def.kind === 'emulated' && this.startInRunner ? this.runner : undefined;
    const launch = runner
      ? () => runner.start(emulatedSpecOf(def, p.qmp), p)
      : await this.processLaunch(def, p);
    this.outbox.record({
      type: 'guest.defined',
      vm: def.vm,
      migrationId,
      data: { kind: def.kind, memoryMiB: def.memoryMiB, incoming: def.incoming },
    });
    let proc: GuestProcess | undefined;
    let qmp: QmpClient;
    try {
      proc = await launch();
      qmp = await this.connect(def.vm, proc);
    } catch (err) {
      await proc?.kill().catch((killErr: unknown) =>
        this.log.warn('could not kill a guest that failed to start', {
          vm: def.vm,
          error: (killErr as Error).message,
        }),
      );
      const lastLine = tailFile(p.log, 1) || '(empty)'; // read before its directory goes
      rmSync(p.dir, { recursive: true, force: true });
      throw new GuestError(
        GUEST_START_FAILED,
        def.vm,
        this.host,
        `did not start: ${(err as Error).message}`,
        { cause: err, hint: `its last log line: ${lastLine}` },
      );
    }
    this.guests.set(def.vm, { def, proc, qmp });
    this.watchRunState(def.vm, qmp);
    await this.onChanged?.();
    this.outbox.record({
      type: 'guest.started',
      vm: def.vm,
      migrationId,
      data: { pid: proc.pid, paused: def.paused || def.incoming },
    });
    this.log.info('guest started', { vm: def.vm, kind: def.kind, pid: proc.pid, memoryMiB: def.memoryMiB });
    return { pid: proc.pid };
  }

  /**
   * How a guest that is a process of its own starts: the standby adopted, or a new process; its
   * command is made first, so a bad definition fails before anything is recorded. On failure,
   * nothing it started is left running.
   */
  private async processLaunch(
    def: GuestDefinition,
    p: ReturnType<GuestManager['paths']>,
  ): Promise<() => Promise<GuestProcess>> {
    const { command, args } = await guestCommand(def, p.qmp, this.imageCacheDir);
    return async () => {
      try {
        let pid: PidRecord | undefined;
        if (def.kind === 'emulated' && this.standby) {
          pid = await this.standby.adopt(emulatedSpecOf(def, p.qmp), { log: p.log, pid: p.pid });
        }
        pid ??= startDaemon({ command, args, env: guestEnvironment(), logPath: p.log, pidPath: p.pid });
        return new OsGuestProcess(pid);
      } catch (err) {
        const left = readLivePidFile(p.pid);
        if (left) await new OsGuestProcess(left).kill();
        throw err;
      }
    };
  }

  /** After an agent restart: the process of the guest in `p`, if it still runs. */
  private async reattach(p: ReturnType<GuestManager['paths']>): Promise<GuestProcess | undefined> {
    const pid = readLivePidFile(p.pid);
    if (pid) return new OsGuestProcess(pid);
    if (!existsSync(p.runnerGuest)) return undefined;
    return this.runner?.reattach(p.runnerGuest);
  }

  /** After an agent restart: reconnect to every guest whose process still runs; forget the dead. */
  async recover(): Promise<{ reconnected: string[]; lost: string[] }> {
    const root = join(this.hostDir, 'guests');
    const reconnected: string[] = [];
    const lost: string[] = [];
    for (const vm of existsSync(root) ? readdirSync(root).sort() : []) {
      const p = this.paths(vm);
      const proc = await this.reattach(p);
      const def = GuestDefinitionSchema.safeParse(safeJson(p.def));
      if (!proc || !def.success) {
        lost.push(vm);
        rmSync(p.dir, { recursive: true, force: true });
        if (def.success) this.onGone?.(vm, def.data);
        this.outbox.record({ type: 'guest.stopped', vm, data: { reason: 'gone when the agent restarted' } });
        continue;
      }
      const qmp = await this.connect(vm, proc);
      const { status } = await qmp.execute('query-status');
      this.guests.set(vm, { def: def.data, proc, qmp });
      this.watchRunState(vm, qmp);
      this.outbox.record({ type: 'guest.reconnected', vm, data: { pid: proc.pid, status } });
      reconnected.push(vm);
    }
    this.log.info('guests recovered', { reconnected: reconnected.length, lost: lost.length });
    return { reconnected, lost };
  }

  has(vm: string): boolean {
    return this.guests.has(vm);
  }

  /**
   * An incoming guest that Finish resumed becomes an ordinary guest of this host. The guest list in
   * Redis is published again now: the RESUME event's publish may have run before this, and would
   * otherwise show the guest as incoming until the next heartbeat. Not awaited: Finish does not
   * wait for a heartbeat (beats are serialized, so this one lands after any older one).
   */
  settle(vm: string): void {
    const g = this.get(vm);
    g.def = { ...g.def, incoming: false, paused: false };
    writeFileSync(this.paths(vm).def, JSON.stringify(g.def) + '\n');
    void this.onChanged?.();
  }

  migrationSockets(vm: string): { incoming: string; outgoing: string } {
    this.get(vm);
    const p = this.paths(vm);
    return { incoming: p.incoming, outgoing: p.outgoing };
  }

  qmp(vm: string): QmpClient {
    return this.get(vm).qmp;
  }

  definition(vm: string): GuestDefinition {
    return this.get(vm).def;
  }

  list(): { vm: string; kind: string; memoryMiB: number; pid: number }[] {
    return [...this.guests.values()].map((g) => ({
      vm: g.def.vm,
      kind: g.def.kind,
      memoryMiB: g.def.memoryMiB,
      pid: g.proc.pid,
    }));
  }

  /**
   * Every guest here with its run state, as QMP answers now; `unknown` for one that does not
   * answer within a second (the heartbeat publishes this list, and must never wait out a stuck
   * guest's 10 s QMP timeout: the host's registration would lapse meanwhile).
   */
  async describe(): Promise<HostGuest[]> {
    return Promise.all(
      [...this.guests.values()].map(async (g) => ({
        vm: g.def.vm,
        kind: g.def.kind,
        memoryMiB: g.def.memoryMiB,
        incoming: g.def.incoming,
        status: await g.qmp.execute('query-status', undefined, DESCRIBE_QMP_MS).then(
          (s) => s.status,
          () => 'unknown',
        ),
      })),
    );
  }

  usedMemoryMiB(): number {
    return [...this.guests.values()].reduce((sum, g) => sum + g.def.memoryMiB, 0);
  }

  /** SIGKILL (as libvirt's qemuProcessKill) or its runner's kill, then forget it and say why. */
  async kill(vm: string, reason: string, migrationId: string | null = null): Promise<void> {
    const g = this.get(vm);
    this.guests.delete(vm); // from here on the exit watcher leaves it alone
    g.qmp.close();
    await g.proc.kill();
    this.forget(vm);
    this.onGone?.(vm, g.def);
    this.outbox.record({ type: 'guest.killed', vm, migrationId, data: { reason } });
    this.log.warn('guest killed', { vm, pid: g.proc.pid, reason });
    await this.onChanged?.();
  }

  /** Closes the QMP connections and leaves every guest running (the agent is going away). */
  detachAll(): void {
    clearInterval(this.watcher);
    for (const g of this.guests.values()) g.qmp.close();
    this.guests.clear();
  }

  /** QMP's STOP and RESUME become guest.paused / guest.resumed, whoever caused them. */
  private watchRunState(vm: string, qmp: QmpClient): void {
    qmp.onEvent((e) => {
      if (e.event === 'STOP')
        this.outbox.record({ type: 'guest.paused', vm, data: { reason: 'vCPUs stopped (QMP STOP)' } });
      if (e.event === 'RESUME')
        this.outbox.record({ type: 'guest.resumed', vm, data: { reason: 'vCPUs resumed (QMP RESUME)' } });
      // The guest list the agent publishes carries the run state: publish the change now.
      if (e.event === 'STOP' || e.event === 'RESUME') void this.onChanged?.();
    });
  }

  private reapExited(): void {
    for (const [vm, g] of this.guests) {
      if (g.proc.alive()) continue;
      g.qmp.close();
      const log = tailFile(this.paths(vm).log, 1);
      this.forget(vm);
      this.onGone?.(vm, g.def);
      this.outbox.record({ type: 'guest.stopped', vm, data: { reason: 'its process exited' } });
      this.log.warn('guest process exited', { vm, pid: g.proc.pid, lastLog: log });
      void this.onChanged?.();
    }
  }

  private forget(vm: string): void {
    this.guests.delete(vm);
    rmSync(this.paths(vm).dir, { recursive: true, force: true });
  }

  private get(vm: string): Running {
    const g = this.guests.get(vm);
    if (!g) throw new GuestError(GUEST_UNKNOWN, vm, this.host, 'no such guest on this host');
    return g;
  }

  /** Connects to the guest's QMP socket, giving up early if the process dies while we wait. */
  private async connect(vm: string, proc: GuestProcess): Promise<QmpClient> {
    let connected = false;
    const exited = (async (): Promise<never> => {
      while (!connected && proc.alive()) await sleep(EXIT_CHECK_MS);
      throw new Error('the guest process exited');
    })();
    // Not awaited once connected: the watcher ends at its next check, and Prepare must not wait
    // for that (it did, up to 100 ms per guest start).
    exited.catch(() => undefined);
    try {
      return await Promise.race([QmpClient.connect(this.paths(vm).qmp, QMP_CONNECT_MS), exited]);
    } finally {
      connected = true;
    }
  }
}

function safeJson(path: string): unknown {
  try {
    return JSON.parse(readFileSync(path, 'utf8'));
  } catch {
    return undefined;
  }
}

// One emulated VM: RAM and its dirty log, the devices, the workload that runs while the vCPUs do,
// the run state, the migration settings and the current outgoing or incoming migration. QMP
// commands act on it; it reports QMP events to whoever listens (the QMP server).
import type { Logger } from '../../infra/logging/logger.ts';
import { PageBitmap } from './bitmap.ts';
import { Devices } from './devices.ts';
import { DEFAULT_MIGRATION_PARAMETERS, defaultCapabilities } from './migration-config.ts';
import type { Capability, MigrationParameters } from './migration-config.ts';
import { GuestMemory } from './memory.ts';
import type { IncomingMigration } from './incoming.ts';
import type { OutgoingMigration } from './outgoing.ts';
import { assertRunTransition } from './run-state.ts';
import type { RunState } from './run-state.ts';
import type { ResolvedGuestSpec } from './spec.ts';
import { Workload } from './workload.ts';

/** How often the vCPUs run the workload; the rate is kept exact by carrying credit over. */
const TICK_MS = 10;
/** A tick that comes late (event loop busy) runs at most this much guest time. */
const MAX_TICK_MS = 250;

export type GuestEventListener = (event: string, data?: Record<string, unknown>) => void;

export class EmulatedGuest {
  readonly memory: GuestMemory;
  readonly devices: Devices;
  /** Pages written since the last migration bitmap sync (KVM's dirty log). */
  readonly dirtyLog: PageBitmap;
  readonly workload: Workload;
  private state: RunState;
  /** Whether an incoming guest runs once migrated (QEMU's autostart: no -S, or `cont`). */
  autostart: boolean;
  params: MigrationParameters = { ...DEFAULT_MIGRATION_PARAMETERS };
  caps: Record<Capability, boolean> = defaultCapabilities();
  outgoing: OutgoingMigration | null = null;
  incoming: IncomingMigration | null = null;
  /** Set by main: how the process ends (quit, SIGTERM, a failed incoming migration). */
  exit: (code: number, reason: string) => void = () => undefined;
  private readonly listeners = new Set<GuestEventListener>();
  private timer: NodeJS.Timeout | null = null;
  private lastTick = 0;
  private killed = false;

  constructor(
    readonly spec: ResolvedGuestSpec,
    readonly log: Logger,
  ) {
    this.memory = new GuestMemory(spec.memoryMiB * 1024 * 1024);
    this.devices = new Devices(spec.seed);
    this.dirtyLog = new PageBitmap(this.memory.pages);
    this.workload = new Workload(this.memory, this.dirtyLog, {
      pagesPerSecond: spec.dirtyPagesPerSecond,
      workingSetPages: spec.workingSetPages,
    });
    this.autostart = !spec.paused;
    this.state = spec.incoming === 'defer' ? 'inmigrate' : spec.paused ? 'prelaunch' : 'running';
    if (this.state === 'running') this.startTicking();
  }

  get runState(): RunState {
    return this.state;
  }

  onEvent(listener: GuestEventListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  emit(event: string, data?: Record<string, unknown>): void {
    for (const l of [...this.listeners]) l(event, data);
  }

  /** MIGRATION and MIGRATION_PASS are sent only with the "events" capability, as in QEMU. */
  emitMigrationEvent(event: 'MIGRATION' | 'MIGRATION_PASS', data: Record<string, unknown>): void {
    if (this.caps.events) this.emit(event, data);
  }

  /** Changes the run state (checked against QEMU's table); STOP/RESUME when crossing "running". */
  setRunState(to: RunState): void {
    const from = this.state;
    if (from === to) return;
    assertRunTransition(from, to);
    this.state = to;
    if (from === 'running') {
      this.stopTicking();
      this.emit('STOP');
    }
    if (to === 'running') {
      this.startTicking();
      this.emit('RESUME');
    }
    this.log.info('run state', { from, to });
  }

  /** The guest-visible state digest: RAM and devices (x-ferry-digest). */
  digest(): { digest: string; bytes: number } {
    return this.memory.digest(this.devices.guestStates());
  }

  shutdown(): void {
    this.stopTicking();
  }

  /**
   * The guest is killed (its runner's `kill`, the SIGKILL of a guest that shares a process): no
   * tick, event or exit from here on, its migration streams torn down; its RAM goes with the
   * object. Nothing is flushed and no SHUTDOWN is sent, as with a process that is killed.
   */
  kill(): void {
    this.killed = true;
    this.exit = () => undefined;
    this.listeners.clear();
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
    this.outgoing?.cancel();
    this.incoming?.close();
  }

  private startTicking(): void {
    if (this.killed) return;
    this.lastTick = performance.now();
    this.timer = setInterval(() => this.tick(), TICK_MS);
  }

  private stopTicking(): void {
    if (this.timer !== null) {
      // Run the last slice, so the stop takes effect at this instant and not at the last tick.
      this.tick();
      clearInterval(this.timer);
      this.timer = null;
    }
  }

  private tick(): void {
    const now = performance.now();
    const elapsed = Math.min(now - this.lastTick, MAX_TICK_MS);
    this.lastTick = now;
    this.devices.advance(elapsed);
    this.workload.run(this.devices.cpu, elapsed);
  }
}

// What the agent holds of a running guest's process, whatever runs it: a process of its own (a
// QEMU, or an emulated guest's node process, known by a pid file) or one guest of a guest runner
// (guest-runner.ts, known by the runner's pid and its number there). GuestManager starts, watches
// and kills guests through this and nothing else.
import { setTimeout as sleep } from 'node:timers/promises';
import { isSameProcessAlive, type PidRecord } from '../../infra/process/pid-file.ts';

/** After SIGKILL: how often to check that the process is gone (it takes a few ms). */
const KILL_CHECK_MS = 5;

export interface GuestProcess {
  /** The pid, or a runner guest's pid-like identity (shown in events and `ferry status`). */
  readonly pid: number;
  /** Whether the guest still runs (false once it exited, was killed, or its runner died). */
  alive(): boolean;
  /** Ends the guest at once, as SIGKILL does, and resolves once it is gone; the others stay. */
  kill(): Promise<void>;
}

/** A guest that is a process of its own, named by its pid file's record. */
export class OsGuestProcess implements GuestProcess {
  constructor(readonly record: PidRecord) {}

  get pid(): number {
    return this.record.pid;
  }

  alive(): boolean {
    return isSameProcessAlive(this.record);
  }

  /** SIGKILL by pid, as libvirt's qemuProcessKill. */
  async kill(): Promise<void> {
    if (this.alive()) process.kill(this.record.pid, 'SIGKILL');
    while (this.alive()) await sleep(KILL_CHECK_MS);
  }
}

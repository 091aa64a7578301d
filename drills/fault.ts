// What a crash-recovery drill injects, and what it may act on while it does. A fault is real: it
// kills a real process, restarts a real service, or breaks real bytes on a real connection; the
// code under test is never told that a drill runs.
import type { Redis } from 'ioredis';
import type { Config } from '../infra/config.ts';
import type { Logger } from '../infra/logging/logger.ts';
import { PHASES, type PhaseName } from '../protocol/phases.ts';

/** The five phases of the v3 protocol (protocol/phases.ts), as the drills name the moment a fault fires. */
export const DRILL_PHASES = PHASES;
export type DrillPhase = PhaseName;

/** The drill's cluster as a fault sees it: which host is which, and how to bring processes back. */
export interface DrillTarget {
  cfg: Config;
  redis: Redis;
  log: Logger;
  vm: string;
  source: string;
  destination: string;
  /** The migration (its workflow id), once started. */
  migrationId: string;
  /** SIGKILLs the agent of `host` by its pid file and waits until the process is gone. */
  killAgent(host: string): Promise<void>;
  /** Starts the agent of `host` again, as `ferry host start --detach` would, with its links. */
  startAgent(host: string): Promise<void>;
  /** SIGKILLs the drill's controller (the orchestrator worker) by its pid file. */
  killController(): Promise<void>;
  startController(): Promise<void>;
  /**
   * On a lab (lab/netns.ts): cuts (`down`) or restores (`up`) the host's real link. Undefined
   * elsewhere: a partition then blackholes the host's link proxies (drills/links.ts).
   */
  setLink?(host: string, state: 'up' | 'down'): Promise<void>;
}

export interface Fault {
  /** Stable, kebab-case: the part of a drill's name that says what breaks. */
  readonly name: string;
  /** One line for `ferry drill --list` and the matrix report. */
  readonly description: string;
  /** Breaks something now; returns once it is broken (the process gone, the link down). */
  inject(target: DrillTarget): Promise<void>;
  /**
   * Repairs it (restart, reconnect), or undefined when this fault is left in place for good (an
   * agent never restarted); the drill waits `healAfterMs` between inject and heal.
   */
  heal?(target: DrillTarget): Promise<void>;
  readonly healAfterMs?: number;
  /**
   * What the runbook in docs/drills.md has an operator do once the migration ended, when ferry
   * leaves that decision to a person (a guest left paused after Redis lost its data). The verdict is
   * checked after it. Returns what it did, in one line, or undefined when there was nothing to do.
   */
  operatorStep?(target: DrillTarget, outcome: string): Promise<string | undefined>;
}

// What a migration is asked to do, what it reports, and what it says while it runs. Shared by the
// workflow, its activities and its callers (the CLI, tests, benches): types and pure helpers only.

import type { PhaseName } from './phases.ts';

/** Defaults of the anchors (libvirt/nova): 150 s per GiB of guest memory, 150 s without progress. */
export const DEFAULT_COMPLETION_TIMEOUT_PER_GIB_MS = 150_000;
export const DEFAULT_PROGRESS_TIMEOUT_MS = 150_000;
export const DEFAULT_MAX_DOWNTIME_MS = 300;
/** How long an incoming guest outlives a silent controller before its destination kills it. */
export const DEFAULT_AUTOKILL_TTL_MS = 15_000;
export const DEFAULT_HEARTBEAT_TIMEOUT_MS = 10_000;

/**
 * How long a rollback keeps trying to reach a destination that may be gone for good with its
 * cancelled Finish. Four autokill TTLs: by then the lease has long lapsed and the destination (or
 * its agent, once restarted) kills the incoming guest on its own, so trying longer adds nothing
 * but a wait before the source is told. At least 10 s, for a destination that only blinked.
 */
export function cancelledFinishGiveUpMs(autokillTtlMs: number): number {
  return Math.max(10_000, 4 * autokillTtlMs);
}
/**
 * How long a phase waits in a host's task queue for its agent to pick it up (schedule-to-start)
 * before that host counts as down. Only the phases before the point of no return, and Finish, are
 * bounded: a rollback from there is clean. Confirm waits for the source however long it is away,
 * since only the source can resume its guest.
 */
export const DEFAULT_HOST_PICKUP_TIMEOUT_MS = 30_000;

export interface MigrateInput {
  vm: string;
  source: string;
  destination: string;
  /** QEMU's downtime-limit; changeable on the fly (setMaxDowntime). */
  maxDowntimeMs?: number;
  /** QEMU's max-bandwidth in MiB/s (0 or absent: unlimited); changeable on the fly (setBandwidth). */
  bandwidthMiBps?: number;
  /** The agents' own cap on the tunnel, in MiB/s (benchmarks and slow-link drills). */
  tunnelBandwidthMiBps?: number;
  completionTimeoutPerGiBMs?: number;
  progressTimeoutMs?: number;
  autokillTtlMs?: number;
  /**
   * Send the stream to this address instead of the destination's own data plane (libvirt's
   * migrate URI override): a relay, or the fault proxy of a drill. The one-time token still comes
   * from the destination's cookie.
   */
  via?: { host: string; port: number };
  /** How soon a silent agent in Perform counts as gone. */
  heartbeatTimeoutMs?: number;
  /** How long Begin, Prepare and Perform wait for their host's agent to pick them up. */
  hostPickupTimeoutMs?: number;
  /**
   * Hold the migration before these phases until `resume` is signalled (as QEMU's
   * pause-before-switchover holds a migration for its controller): drills and tests use it to act
   * at an exact point of the protocol.
   */
  holdBefore?: PhaseName[];
}

export type Outcome = 'completed' | 'rolled-back' | 'failed';

export interface PhaseRecord {
  name: PhaseName;
  host: string;
  /** `cancelled`: Finish or Confirm run as compensation (kill on the destination, resume on the source). */
  mode: 'normal' | 'cancelled';
  startedAt: string;
  endedAt: string | null;
  result: 'running' | 'ok' | 'failed';
  error?: string;
}

export interface FirstError {
  phase: PhaseName;
  host: string;
  vm: string;
  type: string;
  message: string;
}

export interface MigrationReport {
  migrationId: string;
  vm: string;
  source: string;
  destination: string;
  outcome: Outcome;
  /** Where the VM runs now. */
  runsOn: string | null;
  phases: PhaseRecord[];
  downtimeMs: number | null;
  bytes: number | null;
  passes: number | null;
  totalTimeMs: number | null;
  firstError: FirstError | null;
  aborted: boolean;
  /** Guest memory digest at the stop on the source, and on the destination before it resumed. */
  digests: { source: string | null; destination: string | null };
}

/** What `progress` answers (libvirt's domjobinfo); live byte counts come from Perform's heartbeat. */
export interface MigrationProgressView {
  migrationId: string;
  vm: string;
  source: string;
  destination: string;
  phase: PhaseName | null;
  state: 'running' | 'held' | 'compensating' | 'done';
  maxDowntimeMs: number;
  bandwidthMiBps: number;
  phases: PhaseRecord[];
  transfer: TransferProgress | null;
  firstError: FirstError | null;
  abortRequested: boolean;
}

export interface TransferProgress {
  status: string;
  transferred: number;
  remaining: number;
  passes: number;
  expectedDowntimeMs: number;
}

/** The completion timeout scales with memory; a guest under 1 GiB gets the time of 1 GiB. */
export function completionTimeoutMs(memoryMiB: number, perGiBMs: number): number {
  return Math.ceil(Math.max(1, memoryMiB / 1024) * perGiBMs);
}

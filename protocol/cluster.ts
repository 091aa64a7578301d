// What a drain or a rebalance is asked to do, what it says while it runs and what it reports.
// Shared by the workflows, the controller's cluster activities and the CLI: types and pure helpers.
import type { MigrateInput, Outcome } from './migration.ts';

/** At most `cluster` migrations at once, `perSource` out of one host, `perDestination` into one. */
export interface MigrationLimits {
  cluster: number;
  perSource: number;
  perDestination: number;
}

/**
 * Defaults of the anchors (nova's max_concurrent_live_migrations and libvirt's per-host jobs): 5 in
 * the cluster, 2 out of a host; and 2 into a host, a limit the anchors lack, so that one host being
 * filled is not the bottleneck of every drain at once.
 */
export const DEFAULT_LIMITS: MigrationLimits = { cluster: 5, perSource: 2, perDestination: 2 };
/** A slot lapses this long after its keepalive stops (a dead controller). */
export const DEFAULT_SLOT_TTL_MS = 15_000;
/** A destination whose registration lapsed this long is given up on by the migrations going to it. */
export const DESTINATION_DOWN_AFTER_MS = 5_000;
/** Rebalance moves guests off hosts above this share of their memory. */
export const DEFAULT_THRESHOLD_PCT = 80;

export function resolveLimits(given: Partial<MigrationLimits> | undefined): MigrationLimits {
  const limits = { ...DEFAULT_LIMITS, ...given };
  for (const [name, value] of Object.entries(limits)) {
    if (!Number.isInteger(value) || value < 1)
      throw new RangeError(`limit ${name} must be a whole number ≥ 1`);
  }
  return limits;
}

/** A host as the cluster operations see it: registration, drain mark, slots and promised memory. */
export interface HostView {
  name: string;
  /** Its agent's registration is live. */
  up: boolean;
  /** The drain (or operator) that marked it draining, or null. */
  draining: string | null;
  memoryMiB: number;
  usedMiB: number;
  guests: number;
  /** Memory promised to migrations coming in (counted until its heartbeat shows them). */
  promisedMiB: number;
  inbound: number;
  outbound: number;
}

/** The migration inputs a drain passes on to each of its migrations. */
export type MigrationOptions = Pick<
  MigrateInput,
  | 'maxDowntimeMs'
  | 'bandwidthMiBps'
  | 'tunnelBandwidthMiBps'
  | 'completionTimeoutPerGiBMs'
  | 'progressTimeoutMs'
  | 'autokillTtlMs'
  | 'heartbeatTimeoutMs'
  | 'holdBefore'
>;

export interface DrainInput {
  host: string;
  limits?: Partial<MigrationLimits>;
  /** Only these hosts may receive its guests (default: every live, non-draining host). */
  destinations?: string[];
  migration?: MigrationOptions;
}

export interface RebalanceInput {
  /** No host should use more than this share of its memory. */
  thresholdPct?: number;
  /** Only these hosts take part, as sources and destinations (default: all). */
  hosts?: string[];
  limits?: Partial<MigrationLimits>;
  migration?: MigrationOptions;
}

/**
 * How it went for one guest: its migration's outcome (`completed`, `rolled-back`: still on its
 * source, `failed`: compensation incomplete, a human must look), `no-room` (no host could take it)
 * or `not-started` (the operation was cancelled first; it stays where it was).
 */
export type GuestOutcome = Outcome | 'no-room' | 'not-started';
/** `waiting`: for slots under the limits; `migrating`: its migration runs. */
export type MoveState = 'pending' | 'waiting' | 'migrating' | GuestOutcome;

export interface Attempt {
  migrationId: string;
  to: string;
  outcome: Outcome;
  /** The migration's first error (phase, type, one-line message), or why the drain gave up on it. */
  error: { phase: string | null; type: string; message: string } | null;
}

export interface MoveView {
  vm: string;
  memoryMiB: number;
  source: string;
  /** Where it goes (while migrating), went, or was planned to go. */
  to: string | null;
  state: MoveState;
  /** The migration running now, if any: query its `progress`. */
  migrationId: string | null;
  attempts: Attempt[];
  /** Why it ended as it did, when its attempts do not say (no room, cancelled). */
  reason: string | null;
}

export interface ClusterOpProgress {
  id: string;
  kind: 'drain' | 'rebalance';
  /** The drained host (drain only). */
  host: string | null;
  state: 'listing' | 'running' | 'cancelling' | 'done';
  limits: MigrationLimits;
  startedAt: string;
  guests: MoveView[];
  moved: number;
  failed: number;
  left: number;
}

export interface ClusterOpReport {
  id: string;
  kind: 'drain' | 'rebalance';
  host: string | null;
  thresholdPct: number | null;
  /** Guests that now run elsewhere. */
  moved: number;
  /** Guests that could not be moved (rolled back, failed, no room). */
  failed: number;
  /** Guests not tried because the operation was cancelled. */
  left: number;
  cancelled: boolean;
  limits: MigrationLimits;
  startedAt: string;
  endedAt: string;
  guests: {
    vm: string;
    from: string;
    to: string | null;
    outcome: GuestOutcome;
    attempts: Attempt[];
    reason: string | null;
  }[];
  /** Rebalance: hosts still above the threshold afterwards (no room elsewhere). */
  stillOver: string[];
}

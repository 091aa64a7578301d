// Runs a list of guest moves as child `migrate` workflows under the cluster's limits: what a drain
// and a rebalance share. Each move waits for its slots (cluster, source, destination), placed on
// the cluster as it is when they free up, with its memory promised to the destination, runs the
// migration, keeps the slots alive while it runs and releases them when it ends. A move whose
// migration rolls back is tried once more on another host. Cancelling stops new moves, aborts the
// migrations in flight (each rolls back unless past its point of no return) and waits for them.
//
// Runs inside the caller's non-cancellable scope: a move is cancelled only by `cancel()`, never by
// the scope around it, so slots are always released and every child's report is always kept.
import {
  CancellationScope,
  getExternalWorkflowHandle,
  isCancellation,
  log,
  startChild,
} from '@temporalio/workflow';
import type { migrate } from '../migrate.ts';
import { describeFailure } from '../migration/failure.ts';
import type { MigrationReport } from '../../protocol/migration.ts';
import { clusterOps, slotActivities } from './activity-proxies.ts';
import {
  DEFAULT_SLOT_TTL_MS,
  DESTINATION_DOWN_AFTER_MS,
  type Attempt,
  type ClusterOpReport,
  type MigrationLimits,
  type MigrationOptions,
  type MoveView,
} from '../../protocol/cluster.ts';

/** A move whose migration rolled back is tried once more, elsewhere. */
const MAX_ATTEMPTS = 2;

export interface EngineOptions {
  /** Unique per run of the drain/rebalance: part of each migration's id. */
  runTag: string;
  limits: MigrationLimits;
  /** How many moves wait or run at once (more than the limits allow would only wait). */
  lanes: number;
  migration: MigrationOptions;
  /** Where moves may go: only these hosts (default all), filled up to this share of memory (default all of it). */
  placement: { only?: string[]; ceilingPct?: number };
}

export class MoveEngine {
  readonly moves: MoveView[] = [];
  private readonly queue: MoveView[] = [];
  private cancelledAt = false;
  /** Waits for slots, by migration id: cancelled with the engine. */
  private readonly waiting = new Map<string, CancellationScope>();
  /** Migrations running, by id. */
  private readonly running = new Set<string>();
  /** Migrations aborted because their destination went down: their rollback is worth a retry. */
  private readonly destinationDown = new Set<string>();

  constructor(private readonly opts: EngineOptions) {}

  get cancelled(): boolean {
    return this.cancelledAt;
  }

  has(vm: string): boolean {
    return this.moves.some((m) => m.vm === vm);
  }

  add(moves: { vm: string; memoryMiB: number; source: string; to: string | null }[]): void {
    for (const m of moves) {
      const view: MoveView = { ...m, state: 'pending', migrationId: null, attempts: [], reason: null };
      this.moves.push(view);
      this.queue.push(view);
    }
  }

  /** Runs the queued moves to their end (or until cancelled and every migration in flight ended). */
  async run(): Promise<void> {
    const lane = async () => {
      while (!this.cancelledAt) {
        const m = this.queue.shift();
        if (!m) return;
        await this.move(m);
      }
    };
    await Promise.all(Array.from({ length: Math.max(1, this.opts.lanes) }, lane));
    for (const m of this.queue.splice(0)) this.stop(m, 'cancelled before it started');
  }

  /** No new moves: waits for slots stop, migrations in flight are aborted (they roll back). */
  cancel(): void {
    if (this.cancelledAt) return;
    this.cancelledAt = true;
    for (const scope of this.waiting.values()) scope.cancel();
    for (const id of this.running) this.abort(id);
  }

  counts(): { moved: number; failed: number; left: number } {
    const count = (f: (m: MoveView) => boolean) => this.moves.filter(f).length;
    return {
      moved: count((m) => m.state === 'completed'),
      failed: count((m) => ['rolled-back', 'failed', 'no-room'].includes(m.state)),
      left: count((m) => ['pending', 'waiting', 'migrating', 'not-started'].includes(m.state)),
    };
  }

  report(
    head: Pick<ClusterOpReport, 'id' | 'kind' | 'host' | 'thresholdPct' | 'startedAt' | 'stillOver'>,
  ): ClusterOpReport {
    return {
      ...head,
      ...this.counts(),
      cancelled: this.cancelledAt,
      limits: this.opts.limits,
      endedAt: new Date().toISOString(),
      guests: this.moves.map((m) => ({
        vm: m.vm,
        from: m.source,
        to: m.state === 'completed' || m.attempts.length > 0 ? m.to : null,
        outcome:
          m.state === 'pending' || m.state === 'waiting' || m.state === 'migrating' ? 'not-started' : m.state,
        attempts: m.attempts,
        reason: m.reason,
      })),
    };
  }

  private async move(m: MoveView): Promise<void> {
    const tried: string[] = [];
    for (let attempt = 1; attempt <= MAX_ATTEMPTS; attempt++) {
      const migrationId = `m-${m.vm}-${this.opts.runTag}-${attempt}`;
      const destination = await this.acquire(m, migrationId, tried);
      if (destination === undefined) return;
      const result = await this.migrateOnce(m, migrationId, destination);
      if (!result) return;
      m.attempts.push(result);
      m.migrationId = null;
      if (result.outcome !== 'rolled-back' || !this.worthRetrying(result)) {
        m.state = result.outcome;
        return;
      }
      tried.push(destination);
    }
    m.state = 'rolled-back';
  }

  /** A rollback is worth a retry elsewhere unless the source refused or an operator aborted. */
  private worthRetrying(a: Attempt): boolean {
    if (this.cancelledAt) return false;
    if (this.destinationDown.has(a.migrationId)) return true;
    return a.error?.phase !== 'begin' && a.error?.type !== 'Aborted';
  }

  /** Places the guest and waits for its slots; undefined when it cannot go (state set). */
  private async acquire(m: MoveView, migrationId: string, tried: string[]): Promise<string | undefined> {
    if (this.cancelledAt) return this.stop(m, 'cancelled before it started');
    m.state = 'waiting';
    const scope = new CancellationScope();
    this.waiting.set(migrationId, scope);
    try {
      const got = await scope.run(() =>
        slotActivities().acquireSlots({
          migrationId,
          vm: m.vm,
          source: m.source,
          memoryMiB: m.memoryMiB,
          exclude: tried,
          ...this.opts.placement,
          limits: this.opts.limits,
          ttlMs: DEFAULT_SLOT_TTL_MS,
        }),
      );
      if (got.kind === 'acquired') return got.destination;
      return this.noRoom(m, got.why);
    } catch (err) {
      if (!isCancellation(err)) throw err;
      // The wait may have taken the slots just as it was cancelled: give them back.
      await clusterOps().releaseSlots({ migrationId });
      return this.stop(m, 'cancelled before it started');
    } finally {
      this.waiting.delete(migrationId);
    }
  }

  /** One migration, holding its slots; undefined if it never started (cancelled first). */
  private async migrateOnce(
    m: MoveView,
    migrationId: string,
    destination: string,
  ): Promise<Attempt | undefined> {
    const keeper = this.keepSlots(m, migrationId, destination);
    try {
      if (this.cancelledAt) return this.stop(m, 'cancelled before it started');
      m.state = 'migrating';
      m.to = destination;
      m.migrationId = migrationId;
      let report: MigrationReport;
      try {
        const child = await startChild<typeof migrate>('migrate', {
          workflowId: migrationId,
          args: [{ vm: m.vm, source: m.source, destination, ...this.opts.migration }],
          // A drain that is terminated (not cancelled) still lets its migrations roll back.
          parentClosePolicy: 'REQUEST_CANCEL',
        });
        this.running.add(migrationId);
        // Cancelled while it was starting: abort it now that it can be.
        if (this.cancelledAt) this.abort(migrationId);
        report = await child.result();
      } catch (err) {
        // `migrate` reports every outcome; a child that throws failed in a way nobody expected,
        // so the guest's state is unknown: a human must look.
        const failure = describeFailure(err);
        log.error('migration ended without a report', { migrationId, error: failure.message });
        return { migrationId, to: destination, outcome: 'failed', error: { phase: null, ...failure } };
      } finally {
        this.running.delete(migrationId);
      }
      const first = report.firstError;
      const down = this.destinationDown.has(migrationId);
      return {
        migrationId,
        to: destination,
        outcome: report.outcome,
        error: first
          ? {
              phase: first.phase,
              type: down ? 'DestinationDown' : first.type,
              message: down ? `${destination} went down: ${first.message}` : first.message,
            }
          : null,
      };
    } finally {
      keeper.stop();
      await clusterOps().releaseSlots({ migrationId });
    }
  }

  /**
   * Keeps the slots alive while the migration runs, in a scope of its own (the migration's end
   * stops it, nothing else). Its first keepalive also watches the destination: if that goes down,
   * the migration is aborted (it would otherwise wait for the agent forever) and the keepalive goes
   * on without watching until the rollback ends.
   */
  private keepSlots(m: MoveView, migrationId: string, destination: string): { stop(): void } {
    let scope: CancellationScope | undefined;
    let stopped = false;
    const hold = (watch: boolean) => {
      const ended = CancellationScope.nonCancellable(() => {
        scope = new CancellationScope();
        return scope.run(() =>
          slotActivities().holdSlots({
            migrationId,
            vm: m.vm,
            source: m.source,
            destination,
            memoryMiB: m.memoryMiB,
            ttlMs: DEFAULT_SLOT_TTL_MS,
            destinationDownAfterMs: watch ? DESTINATION_DOWN_AFTER_MS : 0,
          }),
        );
      });
      ended.then(
        (end) => {
          if (end !== 'destination-down' || stopped) return;
          log.warn('destination went down: aborting its migration', { migrationId, destination });
          this.destinationDown.add(migrationId);
          this.abort(migrationId);
          hold(false);
        },
        (err: unknown) => {
          if (!isCancellation(err))
            log.warn('slot keepalive ended', { migrationId, error: describeFailure(err).message });
        },
      );
    };
    hold(true);
    return {
      stop: () => {
        stopped = true;
        scope?.cancel();
      },
    };
  }

  /** Cancels a running migration from outside its scope (the engine's own scope cannot be cancelled). */
  private abort(migrationId: string): void {
    void CancellationScope.nonCancellable(() => getExternalWorkflowHandle(migrationId).cancel()).catch(
      (err: unknown) =>
        log.warn('could not abort a migration', { migrationId, error: describeFailure(err).message }),
    );
  }

  private stop(m: MoveView, reason: string): undefined {
    if (m.attempts.length > 0) m.state = m.attempts.at(-1)!.outcome;
    else m.state = 'not-started';
    m.reason = reason;
    m.migrationId = null;
    return undefined;
  }

  private noRoom(m: MoveView, reason: string): undefined {
    m.state = m.attempts.length > 0 ? m.attempts.at(-1)!.outcome : 'no-room';
    m.reason = m.attempts.length > 0 ? `not retried: ${reason}` : reason;
    m.migrationId = null;
    return undefined;
  }
}

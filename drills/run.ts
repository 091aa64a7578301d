// Runs one drill on a fresh cluster of its own: a dirtying guest, a migration over a capped tunnel
// (so Perform lasts seconds), the fault fired at its real moment, the heal after its delay, then the
// verdict once the cluster settled (bounded). Everything it started is stopped, by pid, even on failure.
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { WorkflowFailedError, type WorkflowHandle } from '@temporalio/client';
import type { Config } from '../infra/config.ts';
import type { Logger } from '../infra/logging/logger.ts';
import type { migrate } from '../workflows/migrate.ts';
import { progress, resume } from '../workflows/migration/messages.ts';
import {
  DEFAULT_AUTOKILL_TTL_MS,
  type MigrateInput,
  type MigrationProgressView,
  type MigrationReport,
} from '../protocol/migration.ts';
import type { LabHost } from '../lab/netns-state.ts';
import type { Drill } from './catalog.ts';
import { DrillCluster, drillAddress, type GuestShape, type LinksProvider } from './cluster.ts';
import { checkAudit, checkLive, checkMemory, checkOutcome, checkProcesses } from './verdict.ts';

const MiB = 1024 * 1024;

/** The settings that bound a drill's recovery (printed next to the recovery bench's figures). */
export interface DrillSettings {
  guest: GuestShape;
  /** Time the guest dirties memory before the migration starts. */
  warmupMs: number;
  tunnelBandwidthMiBps: number;
  maxDowntimeMs: number;
  autokillTtlMs: number;
  heartbeatTimeoutMs: number;
  /** A fault "at Perform" fires once this many bytes of the stream went through. */
  performAtBytes: number;
  /** How long the drill waits for the migration to end after the fault. */
  endTimeoutMs: number;
  /** How long the drill waits for the cluster to settle after the migration ended. */
  settleTimeoutMs: number;
}

export const DEFAULT_DRILL_SETTINGS: DrillSettings = {
  guest: { memoryMiB: 64, dirtyRate: 1500 },
  warmupMs: 3000,
  tunnelBandwidthMiBps: 12,
  maxDowntimeMs: 500,
  autokillTtlMs: DEFAULT_AUTOKILL_TTL_MS,
  heartbeatTimeoutMs: 3000,
  performAtBytes: 8 * MiB,
  endTimeoutMs: 240_000,
  settleTimeoutMs: 60_000,
};

export interface DrillResult {
  name: string;
  passed: boolean;
  /** Why it failed, in one line. */
  why?: string;
  outcome?: string;
  firstErrorPhase?: string;
  migrationId?: string;
  /** From the fault until the broken process or service was back (restarted and ready). */
  downMs?: number;
  /** From the fault to the migration's end, and to the cluster found clean (verdict passed). */
  faultToEndMs?: number;
  faultToCleanMs?: number;
  /** What the runbook's operator did once the migration ended (the fault's operatorStep). */
  operatorStep?: string;
  seconds: number;
}

export interface RunOptions {
  /** Which pair of drill addresses (127.0.1.x) the drill's hosts use. */
  slot?: number;
  settings?: Partial<DrillSettings>;
  linksProvider?: LinksProvider;
  /** Keep the hosts' and controller's state dirs even if the drill passed (a failed one keeps them). */
  keepState?: boolean;
  /** Run on these two hosts of a lab (`cfg` is then the lab's): a partition takes a link down for real. */
  lab?: [LabHost, LabHost];
}

class DrillFailed extends Error {}

export async function runDrill(
  cfg: Config,
  log: Logger,
  drill: Drill,
  opts: RunOptions = {},
): Promise<DrillResult> {
  const s = { ...DEFAULT_DRILL_SETTINGS, ...opts.settings };
  const started = Date.now();
  const slot = opts.slot ?? 0;
  const result: DrillResult = { name: drill.name, passed: false, seconds: 0 };
  let cluster: DrillCluster | undefined;
  // The audit's window opens before the hosts start, so the log has each host's and guest's story.
  const since = new Date(started - 1000);
  try {
    cluster = opts.lab
      ? await DrillCluster.openOnLab(cfg, log, opts.lab)
      : await DrillCluster.open(cfg, log, [drillAddress(2 * slot), drillAddress(2 * slot + 1)], {
          ...(opts.linksProvider ? { linksProvider: opts.linksProvider } : {}),
        });
    await cluster.startGuest(s.guest);
    await sleep(s.warmupMs);
    const input: MigrateInput = {
      vm: cluster.vm,
      source: cluster.source,
      destination: cluster.destination,
      tunnelBandwidthMiBps: s.tunnelBandwidthMiBps,
      maxDowntimeMs: s.maxDowntimeMs,
      autokillTtlMs: s.autokillTtlMs,
      heartbeatTimeoutMs: s.heartbeatTimeoutMs,
      ...(drill.phase === 'perform' ? {} : { holdBefore: [drill.phase] }),
    };
    const handle = await cluster.client.workflow.start<typeof migrate>('migrate', {
      taskQueue: cluster.taskQueue,
      workflowId: `drill-${randomUUID()}`,
      args: [input],
    });
    cluster.migrationId = handle.workflowId;
    result.migrationId = handle.workflowId;

    const faultAt = await fire(cluster, drill, handle, s);
    let report: MigrationReport;
    if (drill.never === 'source') {
      // The source never comes back within the window: the destination's incoming guest must go
      // (Finish cancelled kills it, or its autokill lease lapses); then the source is restarted
      // at the very end and the migration must settle rolled back.
      const deadline = Date.now() + 3 * s.autokillTtlMs + 4 * s.heartbeatTimeoutMs + 30_000;
      while (cluster.liveGuests(cluster.destination).has(cluster.vm)) {
        if (Date.now() > deadline) {
          throw new DrillFailed(`the incoming guest on ${cluster.destination} outlived the source's absence`);
        }
        await sleep(250);
      }
      await cluster.startAgent(cluster.source);
      report = await resultOf(handle, s.endTimeoutMs);
    } else if (drill.never === 'destination') {
      // The destination never comes back until the migration ended without it: the source must
      // resume on its own; the incoming guest it left is killed by recovery when it returns.
      report = await resultOf(handle, s.endTimeoutMs);
      await cluster.startAgent(cluster.destination);
    } else {
      if (drill.fault.heal) {
        await sleep(drill.fault.healAfterMs ?? 0);
        await drill.fault.heal(cluster);
        result.downMs = Date.now() - faultAt;
      }
      report = await resultOf(handle, s.endTimeoutMs);
    }
    result.faultToEndMs = Date.now() - faultAt;
    result.outcome = report.outcome;
    if (report.firstError) result.firstErrorPhase = report.firstError.phase;
    await cluster.restoreAll();
    const step = await drill.fault.operatorStep?.(cluster, report.outcome);
    if (step) result.operatorStep = step;

    const outcomeWrong = checkOutcome(drill, report, (result.downMs ?? 0) >= s.autokillTtlMs);
    if (outcomeWrong) throw new DrillFailed(outcomeWrong);
    const memoryWrong = checkMemory(cluster, report);
    if (memoryWrong) throw new DrillFailed(memoryWrong);
    const runsOn = report.outcome === 'completed' ? cluster.destination : cluster.source;
    const deadline = Date.now() + s.settleTimeoutMs;
    for (;;) {
      const why =
        checkProcesses(cluster, runsOn) ??
        (await checkLive(cluster, runsOn)) ??
        (await checkAudit(cluster, since));
      if (!why) break;
      if (Date.now() > deadline)
        throw new DrillFailed(`not settled after ${s.settleTimeoutMs / 1000} s: ${why}`);
      await sleep(1000);
    }
    result.faultToCleanMs = Date.now() - faultAt;
    result.passed = true;
  } catch (err) {
    result.why =
      err instanceof DrillFailed ? err.message : `${err instanceof Error ? err.message : String(err)}`;
    result.why = result.why.split('\n')[0];
  } finally {
    await cluster?.close({ removeState: result.passed && !opts.keepState });
    result.seconds = Math.round((Date.now() - started) / 100) / 10;
  }
  return result;
}

/** Fires the drill's fault at its moment and returns when (ms since the epoch) it was injected. */
async function fire(
  cluster: DrillCluster,
  drill: Drill,
  handle: WorkflowHandle<typeof migrate>,
  s: DrillSettings,
): Promise<number> {
  if (drill.phase === 'perform') {
    await waitFor(handle, (p) => p.phase === 'perform' && (p.transfer?.transferred ?? 0) >= s.performAtBytes);
    await drill.fault.inject(cluster);
    return Date.now();
  }
  await waitFor(handle, (p) => p.state === 'held');
  if (drill.fault.moment === 'held') {
    await drill.fault.inject(cluster);
    const at = Date.now();
    await handle.signal(resume);
    return at;
  }
  await handle.signal(resume);
  await drill.fault.inject(cluster);
  return Date.now();
}

async function waitFor(
  handle: WorkflowHandle<typeof migrate>,
  until: (p: MigrationProgressView) => boolean,
  timeoutMs = 120_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const p = await handle.query(progress);
    if (until(p)) return;
    if (p.state === 'done') throw new DrillFailed(`the migration ended (${p.phase}) before the fault point`);
    if (Date.now() > deadline)
      throw new DrillFailed(`the fault point was never reached: phase ${p.phase}, ${p.state}`);
    await sleep(100);
  }
}

/** The migration's report; through a Temporal restart (the long poll breaks, so it is asked again). */
async function resultOf(handle: WorkflowHandle<typeof migrate>, timeoutMs: number): Promise<MigrationReport> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const remaining = deadline - Date.now();
    if (remaining <= 0)
      throw new DrillFailed(`the migration did not end within ${timeoutMs / 1000} s of the fault`);
    try {
      const r = await Promise.race([
        handle.result(),
        sleep(remaining, undefined, { ref: false }).then(() => undefined),
      ]);
      if (r) return r;
    } catch (err) {
      if (err instanceof WorkflowFailedError)
        throw new DrillFailed(`the migration workflow failed: ${err.message}`);
      await sleep(1000);
    }
  }
}

// A drill's verdict: the migration's report against what the drill expects, and the cluster as
// the agents, the guests' pid files, Redis and the audit of the drill's window show it. Each check
// answers undefined (holds) or the one-line reason it does not.
import { AssertionError } from 'node:assert';
import { runAudit } from '../events/audit-run.ts';
import type { MigrationReport } from '../protocol/migration.ts';
import { assertSettled } from '../lab/cluster-state.ts';
import type { Drill } from './catalog.ts';
import type { DrillCluster } from './cluster.ts';

/**
 * The outcome and first error the drill expects; `failed` never passes. `pastAutokill`: the
 * fault lasted longer than the autokill TTL (the drill measured it), so its lenient expectation holds.
 */
export function checkOutcome(
  drill: Drill,
  report: MigrationReport,
  pastAutokill = false,
): string | undefined {
  const { outcome, firstError } = report;
  const expect = (pastAutokill ? drill.expect.pastAutokill : undefined) ?? drill.expect;
  if (!expect.outcomes.includes(outcome)) {
    const err = firstError ? ` (first error at ${firstError.phase}: ${firstError.message})` : '';
    return `ended ${outcome}, expected ${expect.outcomes.join(' or ')}${err}`;
  }
  if (outcome === 'rolled-back') {
    if (!firstError) return 'rolled back without its first error';
    if (!expect.errorPhases.includes(firstError.phase)) {
      return `rolled back with its first error at ${firstError.phase} (${firstError.message}), expected at ${expect.errorPhases.join('/')}`;
    }
  }
  return undefined;
}

/** Memory intact: equal digests when it completed; the very guest process still there when rolled back. */
export function checkMemory(cluster: DrillCluster, report: MigrationReport): string | undefined {
  if (report.outcome === 'completed') {
    const { source, destination } = report.digests;
    if (!source || source !== destination)
      return `digests differ: source ${source}, destination ${destination}`;
    return undefined;
  }
  const live = cluster.liveGuests(cluster.source).get(cluster.vm);
  if (live?.pid !== cluster.guestPid) {
    return `rolled back, but the source guest is not the process it was (pid ${cluster.guestPid}, now ${live?.pid ?? 'none'})`;
  }
  return undefined;
}

/** Exactly one guest process of the drill, on `runsOn`, and no other guest process on the drill's hosts. */
export function checkProcesses(cluster: DrillCluster, runsOn: string): string | undefined {
  for (const host of cluster.hosts) {
    for (const [vm, rec] of cluster.liveGuests(host)) {
      if (vm !== cluster.vm || host !== runsOn)
        return `stray guest process ${vm} on ${host} (pid ${rec.pid})`;
    }
  }
  if (!cluster.liveGuests(runsOn).has(cluster.vm)) return `no guest process of ${cluster.vm} on ${runsOn}`;
  return undefined;
}

/** What the agents and Redis say: one host runs it, no job, autokill lease or stray disk lease, placement. */
export async function checkLive(cluster: DrillCluster, runsOn: string): Promise<string | undefined> {
  try {
    await assertSettled(cluster.cfg, cluster.redis, cluster.vm, cluster.hosts, { runsOn });
    return undefined;
  } catch (err) {
    if (err instanceof AssertionError) return err.message.split('\n')[0];
    return `the live check failed: ${err instanceof Error ? err.message : String(err)}`;
  }
}

/** The audit over the drill's window: no violation, and the log agrees with the live system. */
export async function checkAudit(cluster: DrillCluster, since: Date): Promise<string | undefined> {
  const audit = await runAudit(cluster.cfg, { since, vms: [cluster.vm] });
  const v = audit.violations[0];
  if (v) return `audit: ${audit.violations.length} violation(s), first ${v.check}: ${v.message}`;
  if (audit.matchesLive !== true) {
    const d = audit.differences?.[0];
    return `audit: the log disagrees with the live system${d ? ` (${d.what} ${d.subject}: ${d.message})` : ''}`;
  }
  return undefined;
}

// Rebalance: move guests so that no host uses more than a threshold of its memory, with the same
// limits and machinery as a drain. The plan (planRebalance) takes, per host above the threshold,
// the smallest guest that alone brings it under, or else the biggest that fits elsewhere, and
// never fills a destination past the threshold; each move is placed again on a fresh view when
// its turn comes, under the same ceiling. Hosts that are down or draining take no part.
import { ApplicationFailure, CancellationScope, setHandler, workflowInfo } from '@temporalio/workflow';
import { clusterOps, hostGuests } from './cluster/activity-proxies.ts';
import { limitsOf } from './cluster/limits.ts';
import { clusterOpProgress } from './cluster/messages.ts';
import { MoveEngine } from './cluster/moves.ts';
import { loadPct, planRebalance } from '../protocol/placement.ts';
import {
  DEFAULT_THRESHOLD_PCT,
  type ClusterOpProgress,
  type ClusterOpReport,
  type RebalanceInput,
} from '../protocol/cluster.ts';
import { describeFailure } from './migration/failure.ts';
import { runTagOf } from './cluster/run-tag.ts';

export async function rebalance(input: RebalanceInput): Promise<ClusterOpReport> {
  const { workflowId, runId } = workflowInfo();
  const thresholdPct = input.thresholdPct ?? DEFAULT_THRESHOLD_PCT;
  if (!(thresholdPct > 0 && thresholdPct <= 100)) {
    throw ApplicationFailure.nonRetryable(`threshold ${thresholdPct}% must be in (0, 100]`, 'InvalidInput');
  }
  const limits = limitsOf(input.limits);
  const startedAt = new Date().toISOString();
  let state: ClusterOpProgress['state'] = 'listing';
  const view = () => clusterOps().clusterView({ hosts: input.hosts });
  const engine = new MoveEngine({
    runTag: runTagOf(runId),
    limits,
    lanes: limits.cluster,
    migration: input.migration ?? {},
    placement: { ...(input.hosts ? { only: input.hosts } : {}), ceilingPct: thresholdPct },
  });
  setHandler(clusterOpProgress, () => ({
    id: workflowId,
    kind: 'rebalance',
    host: null,
    state,
    limits,
    startedAt,
    guests: engine.moves,
    ...engine.counts(),
  }));
  CancellationScope.current().cancelRequested.catch(() => {
    if (state !== 'done') state = 'cancelling';
    engine.cancel();
  });

  return CancellationScope.nonCancellable(async () => {
    const hosts = await view();
    const over = hosts.filter((h) => h.up && !h.draining && loadPct(h) > thresholdPct);
    const guests: Record<string, { vm: string; memoryMiB: number }[]> = {};
    for (const h of over) {
      const listed = await hostGuests(h.name)
        .listGuests()
        .catch((err: unknown) => {
          throw ApplicationFailure.nonRetryable(
            `cannot list the guests of ${h.name}: ${describeFailure(err).message}`,
            'HostDown',
          );
        });
      guests[h.name] = listed.filter((g) => !g.incoming);
    }
    const plan = planRebalance(hosts, guests, thresholdPct);
    engine.add(plan.moves);
    if (!engine.cancelled) state = 'running';
    await engine.run();
    // From the moves' outcomes, not a new view: registrations lag a heartbeat behind a migration.
    const movedOut = (host: string) =>
      engine.moves
        .filter((m) => m.source === host && m.state === 'completed')
        .reduce((sum, m) => sum + m.memoryMiB, 0);
    const stillOver = over
      .filter((h) => loadPct({ ...h, usedMiB: h.usedMiB - movedOut(h.name) }) > thresholdPct)
      .map((h) => h.name);
    state = 'done';
    return engine.report({
      id: workflowId,
      kind: 'rebalance',
      host: null,
      thresholdPct,
      startedAt,
      stillOver,
    });
  });
}

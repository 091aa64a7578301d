// Drain: empty a host for maintenance. Marks it draining (nothing new lands on it), lists its
// guests from its agent, places each on another host with room and migrates them as child
// `migrate` workflows under the cluster's limits, going on past a migration that fails (retried
// once elsewhere). Lists again at the end: a guest that arrived while the mark went up is moved too.
// Cancelling stops new moves and aborts those in flight (they roll back); what moved stays moved.
// The host stays marked draining afterwards, until `ferry undrain`.
import {
  ApplicationFailure,
  CancellationScope,
  condition,
  setHandler,
  workflowInfo,
} from '@temporalio/workflow';
import { clusterOps, hostGuests } from './cluster/activity-proxies.ts';
import { clusterOpProgress } from './cluster/messages.ts';
import { MoveEngine } from './cluster/moves.ts';
import { planPlacement } from '../protocol/placement.ts';
import { limitsOf } from './cluster/limits.ts';
import type { ClusterOpProgress, ClusterOpReport, DrainInput } from '../protocol/cluster.ts';
import { describeFailure } from './migration/failure.ts';
import { runTagOf } from './cluster/run-tag.ts';

/** Listings after the first: guests that arrived during the drain, or were still arriving. */
const MAX_ROUNDS = 10;

export async function drain(input: DrainInput): Promise<ClusterOpReport> {
  const { workflowId, runId } = workflowInfo();
  const { host } = input;
  const limits = limitsOf(input.limits);
  const startedAt = new Date().toISOString();
  let state: ClusterOpProgress['state'] = 'listing';
  const engine = new MoveEngine({
    runTag: runTagOf(runId),
    limits,
    // One source: more lanes than its outbound limit would only wait.
    lanes: Math.min(limits.cluster, limits.perSource),
    migration: input.migration ?? {},
    placement: input.destinations ? { only: input.destinations } : {},
  });
  setHandler(clusterOpProgress, () => ({
    id: workflowId,
    kind: 'drain',
    host,
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
    await clusterOps().markDraining({ host, by: workflowId });
    for (let round = 0; round < MAX_ROUNDS && !engine.cancelled; round++) {
      const guests = await hostGuests(host)
        .listGuests()
        .catch((err: unknown) => {
          throw ApplicationFailure.nonRetryable(
            `cannot list the guests of ${host}: ${describeFailure(err).message}`,
            'HostDown',
          );
        });
      const fresh = guests.filter((g) => !g.incoming && !engine.has(g.vm));
      if (fresh.length === 0) {
        if (!guests.some((g) => g.incoming)) break;
        // A migration to this host that passed Prepare before the mark: move its guest once it lands.
        await condition(() => engine.cancelled, '2 seconds');
        continue;
      }
      const movers = fresh.map((g) => ({ vm: g.vm, memoryMiB: g.memoryMiB, source: host }));
      const plan = planPlacement(movers, await clusterOps().clusterView({ hosts: input.destinations }));
      engine.add(plan.map((p) => ({ ...movers.find((m) => m.vm === p.vm)!, to: p.to })));
      if (!engine.cancelled) state = 'running';
      await engine.run();
    }
    state = 'done';
    return engine.report({
      id: workflowId,
      kind: 'drain',
      host,
      thresholdPct: null,
      startedAt,
      stillOver: [],
    });
  });
}

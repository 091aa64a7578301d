// Where guests go: pure functions over the hosts' capacity, used by the drain and rebalance
// workflows (deterministic: no I/O, no clock, no locale). Capacity is what the registrations say
// (memory − used) minus memory already promised to migrations in flight; a destination must be
// live, not draining, not the guest's own host. Memory comes first: the biggest guests are placed
// first (they are the hardest to fit), each on the host with the most room left, which spreads
// the guests and so the inbound migrations. No plan ever puts more on a host than it has room for.
import type { HostView } from './cluster.ts';

export type Capacity = Pick<HostView, 'name' | 'up' | 'draining' | 'memoryMiB' | 'usedMiB' | 'promisedMiB'>;

export interface Mover {
  vm: string;
  memoryMiB: number;
  source: string;
}

export interface RankOptions {
  /** Hosts this guest must not go to (tried already). */
  exclude?: readonly string[];
  /** Fill a destination only up to this share of its memory (rebalance), instead of all of it. */
  ceilingPct?: number;
}

/** Memory a host can still take, up to `ceilingPct` of its memory if given. */
export function roomMiB(h: Capacity, ceilingPct?: number): number {
  const limit = ceilingPct === undefined ? h.memoryMiB : Math.floor((h.memoryMiB * ceilingPct) / 100);
  return limit - h.usedMiB - h.promisedMiB;
}

export function loadPct(h: Capacity): number {
  return h.memoryMiB <= 0 ? 100 : ((h.usedMiB + h.promisedMiB) * 100) / h.memoryMiB;
}

const byName = (a: { name: string }, b: { name: string }) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0);

/** The destinations a guest may go to, best first (most room, then name); empty: none has room. */
export function rankDestinations(guest: Mover, hosts: readonly Capacity[], opts: RankOptions = {}): string[] {
  const exclude = new Set(opts.exclude ?? []);
  return hosts
    .filter(
      (h) =>
        h.up &&
        !h.draining &&
        h.name !== guest.source &&
        !exclude.has(h.name) &&
        roomMiB(h, opts.ceilingPct) >= guest.memoryMiB,
    )
    .sort((a, b) => roomMiB(b, opts.ceilingPct) - roomMiB(a, opts.ceilingPct) || byName(a, b))
    .map((h) => h.name);
}

/** Biggest first, then by name: the order guests are placed (and drained) in. */
export function memoryFirst<T extends { vm: string; memoryMiB: number }>(guests: readonly T[]): T[] {
  return [...guests].sort((a, b) => b.memoryMiB - a.memoryMiB || (a.vm < b.vm ? -1 : a.vm > b.vm ? 1 : 0));
}

/**
 * A destination for each guest (null: no host had room at its turn), each placement counted
 * against its host before the next: what a drain of these guests would do if nothing else moved.
 */
export function planPlacement(
  guests: readonly Mover[],
  hosts: readonly Capacity[],
  opts: RankOptions = {},
): { vm: string; to: string | null }[] {
  const left = hosts.map((h) => ({ ...h }));
  return memoryFirst(guests).map((g) => {
    const to = rankDestinations(g, left, opts)[0] ?? null;
    const host = left.find((h) => h.name === to);
    if (host) host.promisedMiB += g.memoryMiB;
    return { vm: g.vm, to };
  });
}

export interface RebalancePlan {
  moves: (Mover & { to: string })[];
  /** Hosts above the threshold before the plan, and the ones the plan cannot bring under it. */
  over: string[];
  stillOver: string[];
}

/**
 * Moves that bring every live, non-draining host to at most `thresholdPct` of its memory, without
 * pushing any destination above it. Per host (most loaded first) it moves the smallest guest that
 * alone brings the host under the threshold, or else the biggest that fits somewhere, and repeats:
 * few moves, few bytes. Draining hosts are left to their drain.
 */
export function planRebalance(
  hosts: readonly Capacity[],
  guests: Readonly<Record<string, readonly { vm: string; memoryMiB: number }[]>>,
  thresholdPct: number,
): RebalancePlan {
  const state = hosts.map((h) => ({ ...h }));
  const over = state
    .filter((h) => h.up && !h.draining && loadPct(h) > thresholdPct)
    .sort((a, b) => loadPct(b) - loadPct(a) || byName(a, b));
  const moves: RebalancePlan['moves'] = [];
  const stillOver: string[] = [];
  for (const source of over) {
    let remaining = memoryFirst(guests[source.name] ?? []);
    while (loadPct(source) > thresholdPct) {
      const excess =
        source.usedMiB + source.promisedMiB - Math.floor((source.memoryMiB * thresholdPct) / 100);
      const placeable = remaining
        .map((g) => ({
          g,
          to: rankDestinations({ ...g, source: source.name }, state, { ceilingPct: thresholdPct })[0],
        }))
        .filter((c): c is { g: (typeof remaining)[number]; to: string } => c.to !== undefined);
      if (placeable.length === 0) break;
      // `remaining` is biggest first: the last big-enough one is the smallest that suffices.
      const enough = placeable.filter((c) => c.g.memoryMiB >= excess);
      const pick = enough.at(-1) ?? placeable[0]!;
      const destination = state.find((h) => h.name === pick.to)!;
      destination.promisedMiB += pick.g.memoryMiB;
      source.usedMiB -= pick.g.memoryMiB;
      remaining = remaining.filter((g) => g !== pick.g);
      moves.push({ vm: pick.g.vm, memoryMiB: pick.g.memoryMiB, source: source.name, to: pick.to });
    }
    if (loadPct(source) > thresholdPct) stillOver.push(source.name);
  }
  return { moves, over: over.map((h) => h.name), stillOver };
}

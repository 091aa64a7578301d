// Each migration's interval and hosts as the event log tells them: from the source agent's
// `migration.phase` Begin event to the controller's `migration.ended`. A drain's slots are taken
// before a migration starts and released after it ends, so these intervals lie within the slots'
// and counting overlaps checks the limits from the record alone.
import type { Config } from '../../infra/config.ts';
import { readEvents } from './events.ts';

export interface MigrationInterval {
  migrationId: string;
  source: string;
  destination: string;
  outcome: string;
  start: number;
  end: number;
}

export async function migrationIntervals(
  cfg: Config,
  ids: ReadonlySet<string>,
): Promise<MigrationInterval[]> {
  const events = await readEvents(
    cfg,
    (e) => e.migrationId !== null && ids.has(e.migrationId),
    (es) => es.filter((e) => e.type === 'migration.ended').length >= ids.size,
    60_000,
  );
  return [...ids].map((id) => {
    const ended = events.find((e) => e.migrationId === id && e.type === 'migration.ended');
    if (ended?.type !== 'migration.ended') throw new Error(`no migration.ended event for ${id}`);
    const begin = events.find(
      (e) =>
        e.migrationId === id &&
        e.type === 'migration.phase' &&
        e.data.phase === 'begin' &&
        e.data.side === 'source',
    );
    // A migration refused at Begin left no Begin event: its own timeline says when it began.
    const start = begin ? Date.parse(begin.time) : Date.parse(ended.data.phases[0]?.startedAt ?? ended.time);
    return {
      migrationId: id,
      source: ended.data.source,
      destination: ended.data.destination,
      outcome: ended.data.outcome,
      start,
      end: Date.parse(ended.time),
    };
  });
}

/** The most intervals open at once within each group (`group` of null: the whole cluster). */
export function peakConcurrency(
  intervals: MigrationInterval[],
  group: (i: MigrationInterval) => string | null,
): Map<string, number> {
  const peaks = new Map<string, number>();
  const keys = new Set(intervals.map((i) => group(i) ?? '*'));
  for (const key of keys) {
    const mine = intervals.filter((i) => (group(i) ?? '*') === key);
    // Ends before starts at the same millisecond: one migration's slots are released before the next takes them.
    const edges = mine
      .flatMap((i) => [
        { t: i.start, d: 1 },
        { t: i.end, d: -1 },
      ])
      .sort((a, b) => a.t - b.t || a.d - b.d);
    let open = 0;
    let peak = 0;
    for (const e of edges) peak = Math.max(peak, (open += e.d));
    peaks.set(key, peak);
  }
  return peaks;
}

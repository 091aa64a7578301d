// Completeness of the log: each host numbers its events without gaps (seq), so a hole in a host's
// seqs is events that never reached the log. Kept compactly (numbers and the id strings the
// reader's dedupe memory holds anyway) because the audit drops the bulk of the events it reads.
import { EventSchema, type EventType, type FerryEvent } from './schema.ts';
import type { EventRef } from './refs.ts';

const TYPES: EventType[] = EventSchema.options.map((o) => o.shape.type.value);
const TYPE_INDEX = new Map(TYPES.map((t, i) => [t, i]));

interface HostSeqs {
  seqs: number[];
  ids: string[];
  times: number[];
  types: number[];
}

export interface SeqGap {
  host: string;
  /** The events on either side of the hole. */
  after: EventRef;
  before: EventRef;
  missing: number;
}

export class SeqTracker {
  private readonly hosts = new Map<string, HostSeqs>();

  add(e: FerryEvent): void {
    let h = this.hosts.get(e.host);
    if (!h) this.hosts.set(e.host, (h = { seqs: [], ids: [], times: [], types: [] }));
    h.seqs.push(e.seq);
    h.ids.push(e.id);
    h.times.push(Date.parse(e.time));
    h.types.push(TYPE_INDEX.get(e.type) ?? 0);
  }

  /** Holes between the first and the last seq read of each host. */
  gaps(): SeqGap[] {
    const gaps: SeqGap[] = [];
    for (const [host, h] of [...this.hosts].sort(([a], [b]) => (a < b ? -1 : 1))) {
      const order = h.seqs.map((_, i) => i).sort((a, b) => h.seqs[a]! - h.seqs[b]!);
      for (let k = 1; k < order.length; k++) {
        const [i, j] = [order[k - 1]!, order[k]!];
        if (h.seqs[j]! <= h.seqs[i]! + 1) continue;
        const ref = (n: number): EventRef => ({
          host,
          seq: h.seqs[n]!,
          id: h.ids[n]!,
          type: TYPES[h.types[n]!]!,
          time: new Date(h.times[n]!).toISOString(),
        });
        gaps.push({ host, after: ref(i), before: ref(j), missing: h.seqs[j]! - h.seqs[i]! - 1 });
      }
    }
    return gaps;
  }
}

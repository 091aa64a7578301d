// Each host numbers its events without gaps (seq): the reader's index of what it has read, per
// host by seq. It drops the copies an at-least-once outbox ships twice (the same id at the same
// host and seq: one lookup of a small integer, cheaper than a set of a million id strings) and
// finds the holes in a host's seqs, events that never reached the log.
import type { FerryEvent } from './schema.ts';
import type { SeqRef } from './refs.ts';

export interface SeqGap {
  host: string;
  /** The events on either side of the hole. */
  after: SeqRef;
  before: SeqRef;
  missing: number;
}

export class SeqIndex {
  /** Per host, seq → id (or ids, if a host reused seqs: a wiped outbox; never dropped as copies). */
  private readonly hosts = new Map<string, Map<number, string | string[]>>();

  /** True if the event is new; false if this very event (same id) was read before. */
  add(e: FerryEvent): boolean {
    let seqs = this.hosts.get(e.host);
    if (!seqs) this.hosts.set(e.host, (seqs = new Map<number, string | string[]>()));
    const had = seqs.get(e.seq);
    if (had === undefined) {
      seqs.set(e.seq, e.id);
      return true;
    }
    if (had === e.id || (Array.isArray(had) && had.includes(e.id))) return false;
    seqs.set(e.seq, Array.isArray(had) ? [...had, e.id] : [had, e.id]);
    return true;
  }

  /** Holes between the first and the last seq read of each host. */
  gaps(): SeqGap[] {
    const gaps: SeqGap[] = [];
    for (const [host, seqs] of [...this.hosts].sort(([a], [b]) => (a < b ? -1 : 1))) {
      const sorted = [...seqs.keys()].sort((a, b) => a - b);
      const ref = (seq: number): SeqRef => {
        const id = seqs.get(seq)!;
        return { host, seq, id: Array.isArray(id) ? id[0]! : id };
      };
      for (let k = 1; k < sorted.length; k++) {
        const [a, b] = [sorted[k - 1]!, sorted[k]!];
        if (b > a + 1) gaps.push({ host, after: ref(a), before: ref(b), missing: b - a - 1 });
      }
    }
    return gaps;
  }
}

// The order the audit folds events in. Kafka keeps order only per partition, and each host ships
// its own outbox when it can, so the log's order across hosts is arrival order, not what happened.
// What a host recorded is ordered by its seq (gap-free, per host); across hosts, by time, and at
// the same millisecond an ending (pause, kill, stop, release) before a beginning, so that a
// hand-over recorded within one millisecond is not taken for an overlap.
import type { EventType, FerryEvent } from '../protocol/events.ts';

const ENDINGS: ReadonlySet<EventType> = new Set([
  'guest.paused',
  'guest.stopped',
  'guest.killed',
  'disk.released',
  'host.stopped',
]);

/** Each host's events by seq, merged across hosts by (time, endings first, host). */
export function orderEvents(events: Iterable<FerryEvent>): FerryEvent[] {
  return [...inOrder([...events])];
}

/**
 * The same order, yielded one by one from `events`, which it sorts in place (by host, then seq)
 * and empties as it goes, so that an event the fold keeps no ref to can be collected at once.
 */
export function* inOrder(events: FerryEvent[]): Generator<FerryEvent> {
  events.sort((a, b) => (a.host < b.host ? -1 : a.host > b.host ? 1 : a.seq - b.seq));
  const n = events.length;
  const times = new Float64Array(n);
  const beginnings = new Uint8Array(n);
  for (let i = 0; i < n; i++) {
    times[i] = Date.parse(events[i]!.time);
    beginnings[i] = ENDINGS.has(events[i]!.type) ? 0 : 1;
  }
  // One run per host: [next, end) in the sorted array.
  const runs: { next: number; end: number; host: string }[] = [];
  for (let i = 0; i < n;) {
    let j = i + 1;
    while (j < n && events[j]!.host === events[i]!.host) j++;
    runs.push({ next: i, end: j, host: events[i]!.host });
    i = j;
  }
  const heap = new MinHeap<(typeof runs)[number]>((a, b) => {
    const dt = times[a.next]! - times[b.next]!;
    if (dt !== 0) return dt;
    const rank = beginnings[a.next]! - beginnings[b.next]!;
    if (rank !== 0) return rank;
    return a.host < b.host ? -1 : a.host > b.host ? 1 : 0;
  });
  for (const r of runs) heap.push(r);
  const slots = events as (FerryEvent | undefined)[];
  while (heap.size > 0) {
    const r = heap.peek();
    const e = slots[r.next]!;
    slots[r.next++] = undefined;
    if (r.next < r.end) heap.replaceTop(r);
    else heap.pop();
    yield e;
  }
  events.length = 0;
}

/** A binary heap; `replaceTop` re-sifts the top after its key changed (the merge's hot path). */
class MinHeap<T> {
  private readonly items: T[] = [];

  constructor(private readonly compare: (a: T, b: T) => number) {}

  get size(): number {
    return this.items.length;
  }

  peek(): T {
    return this.items[0]!;
  }

  push(item: T): void {
    const a = this.items;
    a.push(item);
    let i = a.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (this.compare(a[i]!, a[parent]!) >= 0) break;
      [a[i], a[parent]] = [a[parent]!, a[i]!];
      i = parent;
    }
  }

  pop(): void {
    const a = this.items;
    const last = a.pop()!;
    if (a.length > 0) this.replaceTop(last);
  }

  replaceTop(item: T): void {
    const a = this.items;
    a[0] = item;
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      if (l < a.length && this.compare(a[l]!, a[m]!) < 0) m = l;
      if (r < a.length && this.compare(a[r]!, a[m]!) < 0) m = r;
      if (m === i) return;
      [a[i], a[m]] = [a[m]!, a[i]!];
      i = m;
    }
  }
}

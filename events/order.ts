// The order the audit folds events in. Kafka keeps order only per partition, and each host ships
// its own outbox when it can, so the log's order across hosts is arrival order, not what happened.
// What a host recorded is ordered by its seq (gap-free, per host); across hosts, by time, and at
// the same millisecond an ending (pause, kill, stop, release) before a beginning, so that a
// hand-over recorded within one millisecond is not taken for an overlap.
import type { EventType, FerryEvent } from './schema.ts';

const ENDINGS: ReadonlySet<EventType> = new Set([
  'guest.paused',
  'guest.stopped',
  'guest.killed',
  'disk.released',
  'host.stopped',
]);

interface Stream {
  events: FerryEvent[];
  times: number[];
  at: number;
}

/** Each host's events by seq, merged across hosts by (time, endings first, host). */
export function orderEvents(events: Iterable<FerryEvent>): FerryEvent[] {
  const byHost = new Map<string, FerryEvent[]>();
  let total = 0;
  for (const e of events) {
    let list = byHost.get(e.host);
    if (!list) byHost.set(e.host, (list = []));
    list.push(e);
    total++;
  }
  const streams: Stream[] = [];
  for (const list of byHost.values()) {
    list.sort((a, b) => a.seq - b.seq);
    streams.push({ events: list, times: list.map((e) => Date.parse(e.time)), at: 0 });
  }
  const heap = new MinHeap<Stream>((a, b) => {
    const x = a.events[a.at]!;
    const y = b.events[b.at]!;
    const dt = a.times[a.at]! - b.times[b.at]!;
    if (dt !== 0) return dt;
    const rank = Number(!ENDINGS.has(x.type)) - Number(!ENDINGS.has(y.type));
    if (rank !== 0) return rank;
    return x.host < y.host ? -1 : x.host > y.host ? 1 : 0;
  });
  for (const s of streams) heap.push(s);
  const out = new Array<FerryEvent>(total);
  let n = 0;
  while (heap.size > 0) {
    const s = heap.peek();
    out[n++] = s.events[s.at++]!;
    if (s.at < s.events.length) heap.replaceTop(s);
    else heap.pop();
  }
  return out;
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

// How the audit points at the events that show something: host:seq (unique per host, gap-free)
// and the event id (what readers dedupe by), with the type and time for a person reading it.
import type { EventType, FerryEvent } from '../protocol/events.ts';

/** An event known only by its place in its host's sequence (the edge of a hole in the log). */
export interface SeqRef {
  host: string;
  seq: number;
  id: string;
}

export interface EventRef extends SeqRef {
  type: EventType;
  time: string;
}

/**
 * The event itself, seen as a ref: no copy, because the fold takes a ref of nearly every event
 * and only a few are kept. What is reported is copied by `plainRef`, so a citation is just that.
 */
export function refOf(e: FerryEvent): EventRef {
  return e;
}

export function plainRef(r: SeqRef | EventRef): SeqRef | EventRef {
  return 'type' in r
    ? { host: r.host, seq: r.seq, id: r.id, type: r.type, time: r.time }
    : { host: r.host, seq: r.seq, id: r.id };
}

/** `host-a:17 guest.started 2026-…Z (id)` */
export function cite(r: SeqRef | EventRef): string {
  return 'type' in r ? `${r.host}:${r.seq} ${r.type} ${r.time} (${r.id})` : `${r.host}:${r.seq} (${r.id})`;
}

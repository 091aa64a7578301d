// How the audit points at the events that show something: host:seq (unique per host, gap-free)
// and the event id (what readers dedupe by), with the type and time for a person reading it.
import type { EventType, FerryEvent } from './schema.ts';

export interface EventRef {
  host: string;
  seq: number;
  id: string;
  type: EventType;
  time: string;
}

export function refOf(e: FerryEvent): EventRef {
  return { host: e.host, seq: e.seq, id: e.id, type: e.type, time: e.time };
}

/** `host-a:17 guest.started 2026-…Z (id)` */
export function cite(r: EventRef): string {
  return `${r.host}:${r.seq} ${r.type} ${r.time} (${r.id})`;
}

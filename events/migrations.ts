// The migrations part of the projection: each migration's timeline as the log tells it. Agents
// say what each phase did on their host (migration.phase), how QEMU's migration went
// (migration.status, migration.pass), what crossed the tunnel (savevm.section, tunnel.closed);
// the controller says how it ended (migration.ended, with the phase timeline it kept).
//
// Everything here is order-free except `first`/`last`, which compare times: the audit may apply
// the many stream events as they arrive and keep only the lifecycle events for the ordered fold.
import type { FerryEvent } from '../protocol/events.ts';
import { refOf, type EventRef } from './refs.ts';

type Of<T extends FerryEvent['type']> = Extract<FerryEvent, { type: T }>;
type Side = 'source' | 'destination';

export interface AgentPhase {
  phase: Of<'migration.phase'>['data']['phase'];
  side: Side;
  host: string;
  mode: Of<'migration.phase'>['data']['mode'];
  detail: string;
  time: string;
}

export interface StatusChange {
  side: Side;
  status: string;
  error?: string;
  time: string;
}

export interface TunnelEnd {
  side: Side;
  outcome: Of<'tunnel.closed'>['data']['outcome'];
  bytes: number;
  offset?: number;
  error?: string;
  time: string;
}

export type Ended = Of<'migration.ended'>['data'] & { time: string; ref: EventRef };

export interface MigrationView {
  id: string;
  vm: string | null;
  source: string | null;
  destination: string | null;
  phases: AgentPhase[];
  statuses: StatusChange[];
  /** The highest pass QEMU reported on the source (MIGRATION_PASS). */
  passes: number | null;
  sections: Record<Side, number>;
  tunnels: TunnelEnd[];
  ended: Ended | null;
  first: EventRef;
  last: EventRef;
}

/** Applies an event that belongs to a migration (has a migrationId); others are ignored. */
export function applyToMigration(migrations: Map<string, MigrationView>, e: FerryEvent): void {
  if (e.migrationId === null) return;
  let m = migrations.get(e.migrationId);
  if (!m) {
    const ref = refOf(e);
    m = {
      id: e.migrationId,
      vm: e.vm,
      source: null,
      destination: null,
      phases: [],
      statuses: [],
      passes: null,
      sections: { source: 0, destination: 0 },
      tunnels: [],
      ended: null,
      first: ref,
      last: ref,
    };
    migrations.set(e.migrationId, m);
  } else {
    if (e.time < m.first.time) m.first = refOf(e);
    if (e.time >= m.last.time) m.last = refOf(e);
  }
  m.vm ??= e.vm;
  switch (e.type) {
    case 'migration.phase':
      m.phases.push({ ...e.data, host: e.host, time: e.time });
      if (e.data.side === 'source') m.source ??= e.host;
      else m.destination ??= e.host;
      return;
    case 'migration.status':
      m.statuses.push({ ...e.data, time: e.time });
      return;
    case 'migration.pass':
      m.passes = Math.max(m.passes ?? 0, e.data.pass);
      return;
    case 'savevm.section':
      m.sections[e.data.side] += e.data.count ?? 1;
      return;
    case 'tunnel.closed':
      m.tunnels.push({ ...e.data, time: e.time });
      return;
    case 'migration.ended':
      m.ended = { ...e.data, time: e.time, ref: refOf(e) };
      m.source = e.data.source;
      m.destination = e.data.destination;
      return;
    case 'guest.defined':
      // The incoming guest of a migration is defined on its destination.
      if (e.data.incoming) m.destination ??= e.host;
      return;
    default:
      return;
  }
}

/** Stream events: many, and order-free (see the header). */
export function isOrderFree(e: FerryEvent): boolean {
  return (
    e.type === 'savevm.section' ||
    e.type === 'migration.status' ||
    e.type === 'migration.pass' ||
    e.type === 'tunnel.closed'
  );
}

// Cluster state rebuilt from the event log alone: hosts, guests (where each VM runs and in what
// state, copy by copy), disk lease holders, and migrations with their timelines. A fold: `apply`
// takes one event into the state, in the order of order.ts; no I/O, no clock.
//
// A VM can have a copy on more than one host: during a migration the destination holds an
// incoming copy (defined incoming, started paused) until Finish resumes it, and the source keeps
// its paused copy until Confirm kills it. The VM is where its primary copy is: the host that last
// started it or resumed an incoming copy of it (the switchover).
import { applyToMigration, type MigrationView } from './migrations.ts';
import { refOf, type EventRef } from './refs.ts';
import type { FerryEvent } from '../protocol/events.ts';
import { orderEvents } from './order.ts';

export interface HostView {
  name: string;
  up: boolean;
  uuid: string | null;
  /** The data plane, address:port, as host.started said. */
  address: string | null;
  ref: EventRef;
}

/** `defined`: recorded but not started yet (or its start failed); `gone`: killed or stopped. */
export type CopyState = 'defined' | 'incoming' | 'running' | 'paused' | 'gone';

export interface GuestCopy {
  host: string;
  state: CopyState;
  /** Still the incoming side of a migration: not the VM until resumed. */
  incoming: boolean;
  migrationId: string | null;
  defined: EventRef | null;
  /** The event that last changed this copy. */
  changed: EventRef;
  /** The event that set its vCPUs running, while they run. */
  runningSince: EventRef | null;
}

export type GuestState = 'running' | 'paused' | 'incoming' | 'gone';

export interface GuestView {
  vm: string;
  /** The host of the primary copy, null if none. */
  primary: string | null;
  kind: 'emulated' | 'qemu' | null;
  memoryMiB: number | null;
  copies: Map<string, GuestCopy>;
  /** Every disk this VM ever leased (to compare with the live leases). */
  disks: Set<string>;
  last: EventRef;
}

export interface DiskHolder {
  disk: string;
  host: string;
  vm: string;
  token: number | null;
  ref: EventRef;
}

export interface ClusterState {
  hosts: Map<string, HostView>;
  guests: Map<string, GuestView>;
  disks: Map<string, DiskHolder>;
  migrations: Map<string, MigrationView>;
}

export function emptyState(): ClusterState {
  return { hosts: new Map(), guests: new Map(), disks: new Map(), migrations: new Map() };
}

/** The whole fold: the log's events in the audit's order, from an empty state. */
export function project(events: Iterable<FerryEvent>): ClusterState {
  const state = emptyState();
  for (const e of orderEvents(events)) apply(state, e);
  return state;
}

export function guestState(g: GuestView): GuestState {
  const primary = g.primary === null ? undefined : g.copies.get(g.primary);
  if (primary && (primary.state === 'running' || primary.state === 'paused')) return primary.state;
  for (const c of g.copies.values()) if (c.state === 'incoming') return 'incoming';
  return 'gone';
}

export function isLive(c: GuestCopy | undefined): boolean {
  return c !== undefined && c.state !== 'gone' && c.state !== 'defined';
}

export function apply(state: ClusterState, e: FerryEvent): void {
  applyToMigration(state.migrations, e);
  const ref = refOf(e);
  switch (e.type) {
    case 'host.started':
      state.hosts.set(e.host, { name: e.host, up: true, uuid: e.data.uuid, address: e.data.address, ref });
      return;
    case 'host.stopped': {
      const h = state.hosts.get(e.host);
      state.hosts.set(e.host, { name: e.host, uuid: null, address: null, ...h, up: false, ref });
      return;
    }
    case 'guest.defined':
    case 'guest.started':
    case 'guest.paused':
    case 'guest.resumed':
    case 'guest.reconnected':
    case 'guest.stopped':
    case 'guest.killed':
      if (e.vm !== null) applyToGuest(state, e, guest(state, e.vm, ref), ref);
      return;
    case 'disk.leased':
      if (e.vm === null) return;
      e.data.disks.forEach((disk, i) => {
        state.disks.set(disk, { disk, host: e.host, vm: e.vm!, token: e.data.tokens[i] ?? null, ref });
        guest(state, e.vm!, ref).disks.add(disk);
      });
      return;
    case 'disk.released':
      for (const disk of e.data.disks) {
        const holder = state.disks.get(disk);
        if (holder?.host === e.host && holder.vm === e.vm) state.disks.delete(disk);
      }
      return;
    case 'migration.status':
    case 'migration.pass':
    case 'migration.phase':
    case 'migration.ended':
    case 'savevm.section':
    case 'tunnel.closed':
      return;
  }
}

type GuestEvent = Extract<FerryEvent, { type: `guest.${string}` }>;

function applyToGuest(state: ClusterState, e: GuestEvent, g: GuestView, ref: EventRef): void {
  switch (e.type) {
    case 'guest.defined':
      g.kind = e.data.kind;
      g.memoryMiB = e.data.memoryMiB;
      g.copies.set(e.host, {
        host: e.host,
        state: e.data.incoming ? 'incoming' : 'defined',
        incoming: e.data.incoming,
        migrationId: e.migrationId,
        defined: ref,
        changed: ref,
        runningSince: null,
      });
      return;
    case 'guest.started': {
      const c = copy(g, e, ref, e.migrationId !== null && e.data.paused);
      if (c.incoming) return setState(c, 'incoming', ref);
      setState(c, e.data.paused ? 'paused' : 'running', ref);
      g.primary = e.host;
      return;
    }
    case 'guest.paused': {
      const c = copy(g, e, ref, false);
      if (!c.incoming) setState(c, 'paused', ref);
      return;
    }
    case 'guest.resumed': {
      // An incoming copy resumed is the switchover: from here on it is the VM.
      const c = copy(g, e, ref, false);
      c.incoming = false;
      setState(c, 'running', ref);
      g.primary = e.host;
      return;
    }
    case 'guest.reconnected': {
      // A restarted agent found the guest still running (or paused, or still loading its stream).
      const c = copy(g, e, ref, false);
      if (e.data.status === 'running') {
        c.incoming = false;
        setState(c, 'running', ref);
        g.primary = e.host;
      } else {
        setState(c, c.incoming ? 'incoming' : 'paused', ref);
        if (!c.incoming) g.primary ??= e.host;
      }
      return;
    }
    case 'guest.stopped':
    case 'guest.killed':
      setState(copy(g, e, ref, false), 'gone', ref);
      if (g.primary === e.host) g.primary = nextPrimary(g);
      return;
  }
}

function guest(state: ClusterState, vm: string, ref: EventRef): GuestView {
  let g = state.guests.get(vm);
  if (!g) {
    g = { vm, primary: null, kind: null, memoryMiB: null, copies: new Map(), disks: new Set(), last: ref };
    state.guests.set(vm, g);
  }
  g.last = ref;
  return g;
}

/**
 * The copy on e.host; one is made up for a guest whose definition the log does not hold (read
 * from a time, or recorded before ferry kept events), as incoming if `incoming`.
 */
function copy(g: GuestView, e: FerryEvent, ref: EventRef, incoming: boolean): GuestCopy {
  let c = g.copies.get(e.host);
  if (!c) {
    c = {
      host: e.host,
      state: incoming ? 'incoming' : 'defined',
      incoming,
      migrationId: incoming ? e.migrationId : null,
      defined: null,
      changed: ref,
      runningSince: null,
    };
    g.copies.set(e.host, c);
  }
  return c;
}

function setState(c: GuestCopy, s: CopyState, ref: EventRef): void {
  if (s === 'running' && c.state !== 'running') c.runningSince = ref;
  if (s !== 'running') c.runningSince = null;
  c.state = s;
  c.changed = ref;
}

/** After the primary went: another copy that is the VM (not incoming), running first. */
function nextPrimary(g: GuestView): string | null {
  let paused: string | null = null;
  for (const c of g.copies.values()) {
    if (c.incoming || !isLive(c)) continue;
    if (c.state === 'running') return c.host;
    paused ??= c.host;
  }
  return paused;
}

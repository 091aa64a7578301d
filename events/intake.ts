// What a reader of the event log does with each message, the same for the audit's bounded read and
// for `events tail`: skip what is out of scope (by key, before parsing: the log is keyed by VM),
// decode and validate, check who wrote it, drop the copies an at-least-once outbox sends twice,
// and hand back what must go to the dead-letter topic instead of stopping.
import { decodeEvent } from './decode.ts';
import type { EventVerifier } from './signatures.ts';
import type { FerryEvent } from '../protocol/events.ts';

/** Which events a reader wants. */
export interface Scope {
  /** Only these VMs' events (host-level events too, unless hostEvents is false). */
  vms?: ReadonlySet<string>;
  /** Events whose own time is before this (epoch ms) are skipped. */
  sinceMs?: number;
  /** With a VM filter: keep the events of no VM (host.started/stopped). Default true. */
  hostEvents?: boolean;
}

export type Taken =
  | { kind: 'event'; event: FerryEvent }
  | { kind: 'duplicate' }
  | { kind: 'skipped' }
  | { kind: 'rejected'; reason: string }
  /** A valid event its signature does not vouch for: not taken (not folded, not deduplicated). */
  | { kind: 'unverified'; event: FerryEvent; unsigned: boolean; reason: string };

/** Drops the copies of an event: true if it is new. */
export interface Dedupe {
  add(e: FerryEvent): boolean;
}

/** Event ids seen, the last `capacity` of them: a follower runs for days. (The reader: SeqIndex.) */
export class IdMemory implements Dedupe {
  private readonly ids = new Set<string>();
  /** The remembered ids as a ring, oldest at `next`. */
  private readonly ring: string[] = [];
  private next = 0;

  constructor(private readonly capacity: number) {}

  /** True if the event's id was new (and is now remembered). */
  add(e: FerryEvent | { id: string }): boolean {
    const id = e.id;
    if (this.ids.has(id)) return false;
    this.ids.add(id);
    if (this.ring.length < this.capacity) this.ring.push(id);
    else {
      this.ids.delete(this.ring[this.next]!);
      this.ring[this.next] = id;
      this.next = (this.next + 1) % this.capacity;
    }
    return true;
  }
}

export function takeMessage(
  message: { key: Buffer | null; value: Buffer | null },
  scope: Scope,
  seen: Dedupe,
  verifier?: EventVerifier,
): Taken {
  const vms = scope.vms;
  if (vms && message.key !== null) {
    // The shippers key an event by its VM, or `host:<name>` when it has none.
    const key = message.key.toString();
    const isHost = key.startsWith('host:');
    if (isHost ? scope.hostEvents === false : !vms.has(key)) return { kind: 'skipped' };
  }
  const decoded = decodeEvent(message.value);
  if (!decoded.ok) return { kind: 'rejected', reason: decoded.reason };
  const event = decoded.event;
  if (vms && (event.vm === null ? scope.hostEvents === false : !vms.has(event.vm))) {
    return { kind: 'skipped' };
  }
  if (scope.sinceMs !== undefined && Date.parse(event.time) < scope.sinceMs) return { kind: 'skipped' };
  // Before the dedupe: a forged copy of an event must not stand in for (or shut out) the real one.
  if (verifier) {
    const verdict = verifier.check(decoded.raw, event);
    if (!verdict.ok) {
      return { kind: 'unverified', event, unsigned: verdict.kind === 'unsigned', reason: verdict.reason };
    }
  }
  if (!seen.add(event)) return { kind: 'duplicate' };
  return { kind: 'event', event };
}

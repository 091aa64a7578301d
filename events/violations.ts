// What the audit reports: which of the invariants of docs/architecture.md an event (or its absence)
// breaks, in one line, with the events that show it.
import { plainRef, type EventRef, type SeqRef } from './refs.ts';

export const CHECKS = {
  /** Invariant 1: the VM's vCPUs ran on two hosts at the same time. */
  'two-hosts': 1,
  /** Invariant 1: the VM's last copy went (a migration killed it, or its process ended), not by an operator. */
  lost: 1,
  /** Invariant 3: an incoming guest still there after its migration ended (or its controller went). */
  'incoming-left': 3,
  /** Invariant 4: a disk leased by a second holder while the first still held it. */
  'disk-two-holders': 4,
  /** Invariant 4: a guest running while a disk of its VM is leased by another host. */
  'disk-elsewhere': 4,
  /** Invariant 4: a disk still leased for a VM that has no guest on that host. */
  'lease-without-guest': 4,
  /** Invariant 5: a host's seq skips numbers: events that never reached the log. */
  'log-gap': 5,
  /** Invariant 5: a host's first event in the log is not its first (seq 0): the log lost its start. */
  'log-start': 5,
  /** Invariant 5: an event whose signature does not hold, or is not its publisher's (not folded). */
  'event-forged': 5,
  /** Invariant 5: an event with no signature while security is on (not folded). */
  'event-unsigned': 5,
  /** Invariant 5: migration.ended says the VM runs somewhere the log does not have it. */
  'ended-disagrees': 5,
  /** Invariant 6: a migration with events but no end, and nothing running it any more. */
  'migration-unended': 6,
  /** Invariant 6: a migration that ended neither completed nor rolled back. */
  'migration-failed': 6,
  /** Invariant 6: a migration that did not complete and kept no first error. */
  'first-error-missing': 6,
} as const;

export type CheckName = keyof typeof CHECKS;

export interface Violation {
  check: CheckName;
  invariant: (typeof CHECKS)[CheckName];
  vm: string | null;
  migrationId: string | null;
  message: string;
  cites: (EventRef | SeqRef)[];
  /** Where in the log, for a violation that is one message (a forged or unsigned event). */
  at?: LogPosition;
}

export interface LogPosition {
  topic: string;
  partition: number;
  offset: string;
}

export function violation(
  check: CheckName,
  about: { vm?: string | null; migrationId?: string | null },
  message: string,
  cites: (EventRef | SeqRef | null | undefined)[],
  at?: LogPosition,
): Violation {
  return {
    check,
    invariant: CHECKS[check],
    vm: about.vm ?? null,
    migrationId: about.migrationId ?? null,
    message,
    cites: cites.filter((c) => c != null).map(plainRef),
    ...(at ? { at: { topic: at.topic, partition: at.partition, offset: at.offset } } : {}),
  };
}

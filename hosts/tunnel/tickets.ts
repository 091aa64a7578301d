// One-time admission tokens the destination issues at Prepare. A token admits one connection:
// it is spent before the destination so much as looks for the guest, so two connections racing
// with the same token cannot both get in. Expired and spent tokens are remembered (until the
// book is cleared) so a refusal can say why.
import { randomBytes, timingSafeEqual } from 'node:crypto';
import type { RefusalReason } from './events.ts';

export interface Ticket<T> {
  migrationId: string;
  token: string;
  expiresAt: number;
  state: 'waiting' | 'spent' | 'expired';
  value: T;
}

export type Admission<T> =
  { ok: true; ticket: Ticket<T> } | { ok: false; reason: RefusalReason; ticket?: Ticket<T> };

/** 256 bits from the CSPRNG, base64url. */
export function newToken(): string {
  return randomBytes(32).toString('base64url');
}

export class TicketBook<T> {
  private readonly tickets = new Map<string, Ticket<T>>();

  constructor(private readonly now: () => number = Date.now) {}

  /** Issues a token for a migration; refuses while another is still waiting for it. */
  issue(migrationId: string, ttlMs: number, value: T): Ticket<T> | null {
    const old = this.tickets.get(migrationId);
    if (old && this.live(old)) return null;
    const ticket: Ticket<T> = {
      migrationId,
      token: newToken(),
      expiresAt: this.now() + ttlMs,
      state: 'waiting',
      value,
    };
    this.tickets.set(migrationId, ticket);
    return ticket;
  }

  /** The ticket of a migration, whatever its state, without touching it. */
  peek(migrationId: string): Ticket<T> | undefined {
    return this.tickets.get(migrationId);
  }

  /** Checks a presented token and, if it admits, spends it. */
  admit(migrationId: string, token: string): Admission<T> {
    const ticket = this.tickets.get(migrationId);
    if (!ticket) return { ok: false, reason: 'unknown-migration' };
    if (!sameToken(ticket.token, token)) return { ok: false, reason: 'wrong-token', ticket };
    if (ticket.state === 'spent') return { ok: false, reason: 'reused-token', ticket };
    // A late token is refused but the ticket left as it is: expire() (the listener's timer) is what
    // fails the waiting tunnel, and must still find it waiting when a late source came first.
    if (!this.live(ticket)) return { ok: false, reason: 'expired-token', ticket };
    ticket.state = 'spent';
    return { ok: true, ticket };
  }

  /** Marks a waiting ticket expired if its time is up; true if it did. */
  expire(ticket: Ticket<T>): boolean {
    if (ticket.state !== 'waiting' || this.now() < ticket.expiresAt) return false;
    ticket.state = 'expired';
    return true;
  }

  /** Withdraws a waiting token (the migration was cancelled). */
  revoke(migrationId: string): void {
    const ticket = this.tickets.get(migrationId);
    if (ticket?.state === 'waiting') ticket.state = 'expired';
  }

  forget(migrationId: string): void {
    this.tickets.delete(migrationId);
  }

  all(): Ticket<T>[] {
    return [...this.tickets.values()];
  }

  private live(ticket: Ticket<T>): boolean {
    return ticket.state === 'waiting' && this.now() < ticket.expiresAt;
  }
}

/** Constant-time comparison, so response timing says nothing about how much of a token matched. */
function sameToken(expected: string, presented: string): boolean {
  const a = Buffer.from(expected);
  const b = Buffer.from(presented);
  return a.length === b.length && timingSafeEqual(a, b);
}

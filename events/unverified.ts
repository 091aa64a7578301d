// The events a reader did not take because their signature does not vouch for them, as the audit's
// violations: one per event, naming where it sits (topic, partition, offset) and what it claims to
// be. A log full of them (a cluster audited with security on over a past without it) is summed up
// after the first ones rather than listed whole, and only those first ones are kept in memory.
import type { EventRef } from './refs.ts';
import { violation, type Violation } from './violations.ts';

/** Listed one by one per kind (forged, unsigned); the rest are summed up in one violation each. */
export const LISTED_PER_KIND = 100;

/** An event its signature does not vouch for, where it sits in the log and why. */
export interface Unverified {
  topic: string;
  partition: number;
  offset: string;
  /** Unsigned (with security on), or forged (a signature that does not hold or is not its publisher's). */
  unsigned: boolean;
  reason: string;
  /** What the event claims to be. */
  claims: EventRef;
}

interface Rest {
  count: number;
  partitions: Set<number>;
  first: Unverified | undefined;
}

/** The refused events of one read: the first of each kind kept, the others counted. */
export class UnverifiedTally {
  /** The first LISTED_PER_KIND of each kind, in the order read. */
  readonly listed: Unverified[] = [];
  private readonly listedOf = { forged: 0, unsigned: 0 };
  private readonly rest: { forged: Rest; unsigned: Rest } = {
    forged: { count: 0, partitions: new Set(), first: undefined },
    unsigned: { count: 0, partitions: new Set(), first: undefined },
  };

  add(u: Unverified): void {
    const kind = u.unsigned ? 'unsigned' : 'forged';
    if (this.listedOf[kind] < LISTED_PER_KIND) {
      this.listedOf[kind]++;
      this.listed.push(u);
      return;
    }
    const rest = this.rest[kind];
    rest.count++;
    rest.partitions.add(u.partition);
    rest.first ??= u;
  }

  /** Every refused event, listed or counted. */
  get total(): number {
    return this.listed.length + this.rest.forged.count + this.rest.unsigned.count;
  }

  violations(): Violation[] {
    const out: Violation[] = [];
    for (const unsigned of [false, true]) {
      const check = unsigned ? 'event-unsigned' : 'event-forged';
      for (const u of this.listed.filter((x) => x.unsigned === unsigned)) {
        const c = u.claims;
        out.push(
          violation(
            check,
            {},
            `${u.topic} partition ${u.partition} offset ${u.offset}: ${c.type} claiming ${c.host}:${c.seq} is not taken: ${u.reason}`,
            [c],
            u,
          ),
        );
      }
      const rest = this.rest[unsigned ? 'unsigned' : 'forged'];
      if (!rest.first) continue;
      const partitions = [...rest.partitions].sort((a, b) => a - b);
      out.push(
        violation(
          check,
          {},
          `… and ${rest.count} more ${unsigned ? 'unsigned' : 'forged'} events in partitions ${partitions.join(', ')}, the first at partition ${rest.first.partition} offset ${rest.first.offset}`,
          [rest.first.claims],
          rest.first,
        ),
      );
    }
    return out;
  }
}

/** The violations of a list of refused events (the tally's, for a list already in hand). */
export function unverifiedViolations(unverified: readonly Unverified[]): Violation[] {
  const tally = new UnverifiedTally();
  for (const u of unverified) tally.add(u);
  return tally.violations();
}

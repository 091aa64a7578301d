// The events a reader did not take because their signature does not vouch for them, as the audit's
// violations: one per event, naming where it sits (topic, partition, offset) and what it claims to
// be. A log full of them (a cluster audited with security on over a past without it) is summed up
// after the first ones rather than listed whole.
import type { Unverified } from './reader.ts';
import { violation, type Violation } from './violations.ts';

/** Listed one by one per kind (forged, unsigned); the rest are summed up in one violation each. */
export const LISTED_PER_KIND = 100;

export function unverifiedViolations(unverified: readonly Unverified[]): Violation[] {
  const out: Violation[] = [];
  for (const unsigned of [false, true]) {
    const check = unsigned ? 'event-unsigned' : 'event-forged';
    const these = unverified.filter((u) => u.unsigned === unsigned);
    for (const u of these.slice(0, LISTED_PER_KIND)) {
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
    const rest = these.slice(LISTED_PER_KIND);
    if (rest.length === 0) continue;
    const partitions = [...new Set(rest.map((u) => u.partition))].sort((a, b) => a - b);
    out.push(
      violation(
        check,
        {},
        `… and ${rest.length} more ${unsigned ? 'unsigned' : 'forged'} events in partitions ${partitions.join(', ')}, the first at partition ${rest[0]!.partition} offset ${rest[0]!.offset}`,
        [rest[0]!.claims],
        rest[0],
      ),
    );
  }
  return out;
}

// A phase's `migration.phase` event: what each side did, for the log's timeline of a migration.
import type { Outbox } from '../../hosts/outbox/outbox.ts';
import { PHASE_SIDE, type PhaseName } from '../../protocol/phases.ts';

export function recordPhase(
  outbox: Outbox,
  e: {
    migrationId: string;
    vm: string;
    phase: PhaseName;
    mode: 'normal' | 'cancelled' | 'recovery';
    detail: string;
  },
): void {
  outbox.record({
    type: 'migration.phase',
    vm: e.vm,
    migrationId: e.migrationId,
    data: { phase: e.phase, side: PHASE_SIDE[e.phase], mode: e.mode, detail: e.detail },
  });
}

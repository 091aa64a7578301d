// QEMU's MigrationStatus (qapi/migration.json) for the states a precopy migration goes through,
// on either side, with the transitions migration.c makes, checked on every change.
export const MIGRATION_STATUSES = [
  'none',
  'setup',
  'active',
  'pre-switchover',
  'device',
  'completed',
  'failed',
  'cancelling',
  'cancelled',
] as const;
export type MigrationStatus = (typeof MIGRATION_STATUSES)[number];

export const MIGRATION_TRANSITIONS: Record<MigrationStatus, readonly MigrationStatus[]> = {
  none: ['setup'],
  setup: ['active', 'failed', 'cancelling'],
  // Without pause-before-switchover QEMU goes from active straight to completed.
  active: ['pre-switchover', 'completed', 'failed', 'cancelling'],
  'pre-switchover': ['device', 'failed', 'cancelling'],
  device: ['completed', 'failed', 'cancelling'],
  cancelling: ['cancelled', 'failed'],
  // A finished migration may be followed by a new one.
  completed: ['setup'],
  failed: ['setup'],
  cancelled: ['setup'],
};

export function canMigrationTransition(from: MigrationStatus, to: MigrationStatus): boolean {
  return MIGRATION_TRANSITIONS[from].includes(to);
}

/** A migration is under way: a new one may not start, capabilities may not change. */
export function isMigrationRunning(s: MigrationStatus): boolean {
  return s === 'setup' || s === 'active' || s === 'pre-switchover' || s === 'device' || s === 'cancelling';
}

/** The status a migration holds while it can still be cancelled. */
export function isCancellable(s: MigrationStatus): boolean {
  return s === 'setup' || s === 'active' || s === 'pre-switchover' || s === 'device';
}

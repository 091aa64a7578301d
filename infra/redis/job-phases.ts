// libvirt's migration jobs and their phases (src/qemu/MIGRATION.txt, qemu_migration.h): the
// source holds a MIGRATION_OUT job from Begin to Confirm, the destination a MIGRATION_IN job from
// Prepare to Finish. Pure data and guards, so workflows and stores share one transition table.

export const ASYNC_JOBS = ['MIGRATION_OUT', 'MIGRATION_IN'] as const;
export type AsyncJob = (typeof ASYNC_JOBS)[number];

export const MIGRATION_PHASES = [
  'begin3',
  'perform3',
  'perform3_done',
  'confirm3_cancelled',
  'confirm3',
  'prepare',
  'finish3',
] as const;
export type MigrationPhase = (typeof MIGRATION_PHASES)[number];

export const PHASES_OF: Record<AsyncJob, readonly MigrationPhase[]> = {
  MIGRATION_OUT: ['begin3', 'perform3', 'perform3_done', 'confirm3_cancelled', 'confirm3'],
  MIGRATION_IN: ['prepare', 'finish3'],
};

// Forward moves only: the protocol never goes backwards. Any phase before Confirm may be cancelled;
// Confirm only follows a Perform whose stream completed.
const NEXT: Record<AsyncJob, Partial<Record<MigrationPhase, readonly MigrationPhase[]>>> = {
  MIGRATION_OUT: {
    begin3: ['perform3', 'confirm3_cancelled'],
    perform3: ['perform3_done', 'confirm3_cancelled'],
    perform3_done: ['confirm3', 'confirm3_cancelled'],
    confirm3_cancelled: [],
    confirm3: [],
  },
  MIGRATION_IN: {
    prepare: ['finish3'],
    finish3: [],
  },
};

export function isPhaseOf(job: AsyncJob, phase: MigrationPhase): boolean {
  return PHASES_OF[job].includes(phase);
}

/**
 * The phases a job may move to from `from` (protocol never goes backwards); a table, not ifs.
 * `from` itself is not listed, though setting it again is allowed (see mayMoveTo).
 */
export function allowedNext(job: AsyncJob, from: MigrationPhase): readonly MigrationPhase[] {
  return NEXT[job][from] ?? [];
}

/** The guard: a forward move, or the same phase again (an activity retried after it succeeded). */
export function mayMoveTo(job: AsyncJob, from: MigrationPhase, to: MigrationPhase): boolean {
  return isPhaseOf(job, from) && isPhaseOf(job, to) && (from === to || allowedNext(job, from).includes(to));
}

/** The phases from which `to` may be entered, `to` included: what the job-phase script checks. */
export function allowedPrevious(job: AsyncJob, to: MigrationPhase): readonly MigrationPhase[] {
  return PHASES_OF[job].filter((from) => mayMoveTo(job, from, to));
}

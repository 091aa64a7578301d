// One migration phase, three names, mapped here and nowhere else. The workflow and the events speak
// of libvirt's v3 protocol phases (begin … confirm); each host's job record names the phase of its
// MIGRATION_OUT or MIGRATION_IN job as libvirt's qemu_migration.h does (begin3, perform3_done, …;
// infra/redis/job-phases.ts holds their transitions, for the Lua scripts); a cookie names the phase
// that issued it (every phase but Confirm, the last). Pure data: the workflows import it.
import type { AsyncJob, MigrationPhase } from '../infra/redis/job-phases.ts';

/** The five phases of libvirt's migration protocol v3, in order. */
export const PHASES = ['begin', 'prepare', 'perform', 'finish', 'confirm'] as const;
export type PhaseName = (typeof PHASES)[number];

/** The phases that issue a cookie, in order: every phase but Confirm. */
export const COOKIE_PHASES = [
  'begin',
  'prepare',
  'perform',
  'finish',
] as const satisfies readonly PhaseName[];
export type CookiePhase = (typeof COOKIE_PHASES)[number];

export interface PhaseNames {
  /** The host that runs it. */
  side: 'source' | 'destination';
  /** The job its host holds while it runs. */
  job: AsyncJob;
  /** The job phases it records, in order: the one it runs in, then the one it ends in, if another. */
  jobPhases: readonly MigrationPhase[];
  /** The job phase it runs in as compensation (a cancelled Confirm resumes the source), if any. */
  cancelledJobPhase: MigrationPhase | null;
  /** The cookie it issues, if any. */
  cookie: CookiePhase | null;
}

export const PHASE_NAMES: Readonly<Record<PhaseName, PhaseNames>> = {
  begin: {
    side: 'source',
    job: 'MIGRATION_OUT',
    jobPhases: ['begin3'],
    cancelledJobPhase: null,
    cookie: 'begin',
  },
  prepare: {
    side: 'destination',
    job: 'MIGRATION_IN',
    jobPhases: ['prepare'],
    cancelledJobPhase: null,
    cookie: 'prepare',
  },
  perform: {
    side: 'source',
    job: 'MIGRATION_OUT',
    jobPhases: ['perform3', 'perform3_done'],
    cancelledJobPhase: null,
    cookie: 'perform',
  },
  // A cancelled Finish runs in finish3 too: it kills the incoming guest under the same job.
  finish: {
    side: 'destination',
    job: 'MIGRATION_IN',
    jobPhases: ['finish3'],
    cancelledJobPhase: null,
    cookie: 'finish',
  },
  confirm: {
    side: 'source',
    job: 'MIGRATION_OUT',
    jobPhases: ['confirm3'],
    cancelledJobPhase: 'confirm3_cancelled',
    cookie: null,
  },
};

export const PHASE_SIDE: Readonly<Record<PhaseName, 'source' | 'destination'>> = {
  begin: PHASE_NAMES.begin.side,
  prepare: PHASE_NAMES.prepare.side,
  perform: PHASE_NAMES.perform.side,
  finish: PHASE_NAMES.finish.side,
  confirm: PHASE_NAMES.confirm.side,
};

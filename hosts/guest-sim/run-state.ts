// The vCPU run state as query-status reports it: a subset of QEMU's RunState and of its table of
// valid transitions (runstate_transitions_def in softmmu/runstate.c), checked on every change.
export const RUN_STATES = [
  'prelaunch',
  'inmigrate',
  'running',
  'paused',
  'finish-migrate',
  'postmigrate',
  'shutdown',
] as const;
export type RunState = (typeof RUN_STATES)[number];

export const RUN_TRANSITIONS: Record<RunState, readonly RunState[]> = {
  prelaunch: ['running', 'finish-migrate', 'shutdown'],
  // An incoming guest becomes what the source was (globalstate), or runs if it was running.
  inmigrate: ['running', 'paused', 'postmigrate', 'prelaunch', 'shutdown'],
  running: ['paused', 'finish-migrate', 'shutdown'],
  paused: ['running', 'finish-migrate', 'postmigrate', 'shutdown'],
  // Switchover: postmigrate once completed, back to running (or paused) when it failed.
  'finish-migrate': ['postmigrate', 'running', 'paused', 'shutdown'],
  postmigrate: ['running', 'finish-migrate', 'shutdown'],
  shutdown: [],
};

export function canRunTransition(from: RunState, to: RunState): boolean {
  return RUN_TRANSITIONS[from].includes(to);
}

/** Throws on a transition QEMU would abort on: a bug in the emulated guest, never user input. */
export function assertRunTransition(from: RunState, to: RunState): void {
  if (!canRunTransition(from, to)) throw new Error(`invalid run state transition ${from} -> ${to}`);
}

export function isRunState(s: string): s is RunState {
  return (RUN_STATES as readonly string[]).includes(s);
}

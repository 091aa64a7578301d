// The drills: each fault at each of the five phases, plus the "never restarted" agents, with what
// the migration must end as. Faults come from lists, so faults written elsewhere (the network and
// stream faults of drills/links.ts) join the catalog by being passed in.
import type { Outcome } from '../protocol/migration.ts';
import { DRILL_PHASES, type DrillPhase, type Fault } from './fault.ts';
import { killAgent, killController, type Side } from './process-faults.ts';
import { RESTARTED_SERVICES, restartService } from './service-faults.ts';

/**
 * When a fault at a phase other than Perform fires. The migration is held before the phase
 * (`holdBefore`), then either the fault is injected while it is held and the `resume` signal
 * sent after (`held`: the phase is dispatched to a process that is already dead), or `resume` is
 * sent first and the fault injected at once (`entered`: the phase is being dispatched or runs;
 * a service restart needs Temporal to take the signal). Perform's faults fire on bytes instead.
 */
export type Moment = 'held' | 'entered';

export interface DrillFault extends Fault {
  readonly moment?: Moment;
  /** The phases where it means something (default all five): a stream fault needs the stream. */
  readonly phases?: readonly DrillPhase[];
}

export interface Expectation {
  outcomes: Outcome[];
  /** The phases a rolled-back migration's first error may name. */
  errorPhases: DrillPhase[];
  /**
   * What holds instead when the fault lasted longer than the autokill TTL (from the kill until the
   * process was back): the destination then rightly kills its incoming guest, a controller it
   * cannot tell from a dead one.
   */
  pastAutokill?: Omit<Expectation, 'pastAutokill'>;
}

export interface Drill {
  name: string;
  fault: DrillFault;
  phase: DrillPhase;
  /** The agent left down until the migration settled without it (restarted at the very end). */
  never?: Side;
  expect: Expectation;
}

const laterPhases = (p: DrillPhase) => DRILL_PHASES.slice(DRILL_PHASES.indexOf(p));

/**
 * What each drill must end as. Any fault: completed, or rolled back with a first error at the
 * fault's phase or later (never `failed`, never an error before the fault). Narrower where the
 * protocol decides: a lost controller only delays (Temporal resumes it); an agent killed in
 * Perform breaks the stream (rolled back at Perform); from Confirm on (and a source lost in
 * Finish) the destination already runs the guest, so it completes. A controller back only after
 * the autokill TTL (its restart is slow on a loaded machine) may lose the incoming guest: then it
 * may roll back too. A restart of Redis (its data kept) or of Kafka only delays.
 */
export function expectationOf(faultName: string, phase: DrillPhase): Expectation {
  const any: Expectation = { outcomes: ['completed', 'rolled-back'], errorPhases: laterPhases(phase) };
  const completes: Expectation = { outcomes: ['completed'], errorPhases: [] };
  const rollsBackAtPerform: Expectation = { outcomes: ['rolled-back'], errorPhases: ['perform'] };
  if (faultName === 'kill-controller') return { ...completes, pastAutokill: any };
  // Redis restarted with its data kept only delays (agents and controller wait it out); Kafka
  // only carries the record (each process's outbox holds the events meanwhile).
  if (faultName === 'restart-redis' || faultName === 'restart-kafka') return completes;
  if (faultName.startsWith('kill-') && faultName.includes('-agent')) {
    if (phase === 'perform') return rollsBackAtPerform;
    if (phase === 'confirm') return completes;
    if (phase === 'finish' && faultName.startsWith('kill-source')) return completes;
  }
  return any;
}

export function processFaults(): DrillFault[] {
  return [
    { ...killAgent('source'), moment: 'held' },
    { ...killAgent('destination'), moment: 'held' },
    { ...killController(), moment: 'held' },
  ];
}

export function serviceFaults(): DrillFault[] {
  return RESTARTED_SERVICES.map((s) => ({ ...restartService(s), moment: 'entered' as const }));
}

/** Every drill: these faults × the five phases, then the two agents never restarted (in Perform). */
export function buildCatalog(extra: DrillFault[] = []): Drill[] {
  const faults: DrillFault[] = [...processFaults(), ...serviceFaults(), ...extra];
  const drills: Drill[] = [];
  for (const fault of faults) {
    for (const phase of fault.phases ?? DRILL_PHASES) {
      drills.push({ name: `${fault.name}@${phase}`, fault, phase, expect: expectationOf(fault.name, phase) });
    }
  }
  for (const side of ['destination', 'source'] as const) {
    const fault = killAgent(side, 'never');
    drills.push({
      name: `${fault.name}@perform`,
      fault,
      phase: 'perform',
      never: side,
      expect: { outcomes: ['rolled-back'], errorPhases: ['perform'] },
    });
  }
  return drills;
}

export function findDrill(catalog: Drill[], name: string): Drill | undefined {
  return catalog.find((d) => d.name === name);
}

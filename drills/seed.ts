// `ferry drill --seed N`: random fault schedules over many migrations, the same schedule for the
// same seed. Each migration draws a fault that heals (an agent, the controller or a service), a
// phase, a heal delay and, in Perform, the byte count at which it fires.
import { DRILL_PHASES } from './fault.ts';
import { expectationOf, type Drill, type DrillFault } from './catalog.ts';
import { killAgent, killController } from './process-faults.ts';
import { RESTARTED_SERVICES, restartService } from './service-faults.ts';

/** mulberry32: a small PRNG whose sequence depends only on the seed. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export interface ScheduledDrill extends Drill {
  healAfterMs: number;
  performAtBytes: number;
}

const HEAL_DELAYS_MS = [500, 1000, 2000, 4000, 8000];
const MiB = 1024 * 1024;

type FaultMaker = (healAfterMs: number) => DrillFault;
const MAKERS: FaultMaker[] = [
  (ms) => ({ ...killAgent('source', ms), moment: 'held' }),
  (ms) => ({ ...killAgent('destination', ms), moment: 'held' }),
  (ms) => ({ ...killController(ms), moment: 'held' }),
  ...RESTARTED_SERVICES.map((svc): FaultMaker => (ms) => ({ ...restartService(svc, ms), moment: 'entered' })),
];

/** The schedule of `migrations` drills for `seed`; faults from elsewhere (`extra`) keep their own delay. */
export function schedule(seed: number, migrations: number, extra: DrillFault[] = []): ScheduledDrill[] {
  const next = prng(seed);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(next() * xs.length)]!;
  const makers: FaultMaker[] = [
    ...MAKERS,
    ...extra.map(
      (f): FaultMaker =>
        () =>
          f,
    ),
  ];
  return Array.from({ length: migrations }, (_, i) => {
    const healAfterMs = pick(HEAL_DELAYS_MS);
    const fault = pick(makers)(healAfterMs);
    const phase = pick(fault.phases ?? DRILL_PHASES);
    const performAtBytes = Math.round((1 + next() * 15) * MiB);
    const at = phase === 'perform' ? `${(performAtBytes / MiB).toFixed(1)}MiB` : phase;
    return {
      name: `#${i + 1} ${fault.name}@${at}+${fault.healAfterMs ?? healAfterMs}ms`,
      fault,
      phase,
      expect: expectationOf(fault.name, phase),
      healAfterMs,
      performAtBytes,
    };
  });
}

// SIGKILLs of the drill's own processes: the source agent, the destination agent, the controller
// (the orchestrator worker), each restarted after a delay, or never within the drill's window.
import type { DrillTarget, Fault } from './fault.ts';

/** How long a killed process stays dead before the drill restarts it. */
export const DEFAULT_PROCESS_HEAL_MS = 2000;

export type Side = 'source' | 'destination';

export function killAgent(side: Side, healAfterMs: number | 'never' = DEFAULT_PROCESS_HEAL_MS): Fault {
  const hostOf = (t: DrillTarget) => (side === 'source' ? t.source : t.destination);
  const never = healAfterMs === 'never';
  return {
    name: never ? `kill-${side}-agent-never` : `kill-${side}-agent`,
    description: never
      ? `SIGKILL the ${side} agent and leave it down until the migration has settled without it`
      : `SIGKILL the ${side} agent, restart it ${healAfterMs} ms later`,
    inject: (t) => t.killAgent(hostOf(t)),
    ...(never ? {} : { heal: (t: DrillTarget) => t.startAgent(hostOf(t)), healAfterMs }),
  };
}

export function killController(healAfterMs = DEFAULT_PROCESS_HEAL_MS): Fault {
  return {
    name: 'kill-controller',
    description: `SIGKILL the controller (the migration workflow's worker), restart it ${healAfterMs} ms later`,
    inject: (t) => t.killController(),
    heal: (t) => t.startController(),
    healAfterMs,
  };
}

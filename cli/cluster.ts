// The cluster operations: `ferry drain`, `ferry undrain`, `ferry rebalance`, `ferry status`. One
// register function, so main.ts needs one line whatever commands land here.
import type { Command } from 'commander';
import { registerDrain } from './drain.ts';
import { registerRebalance } from './rebalance.ts';
import { registerStatus } from './status.ts';

export function registerCluster(program: Command): void {
  registerDrain(program);
  registerRebalance(program);
  registerStatus(program);
}

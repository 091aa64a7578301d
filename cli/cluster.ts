// The cluster operations: `ferry drain`, `ferry undrain`, `ferry rebalance`, `ferry status`. One
// register function, so main.ts needs one line whatever commands land here.
import type { Command } from 'commander';

export function registerCluster(_program: Command): void {
  // The commands land in their own files (cli/drain.ts, cli/rebalance.ts, cli/status.ts).
}

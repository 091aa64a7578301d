// The operator's controller for the CLI tests of commands that start one when none runs (`ferry
// migrate`, `drain`, `rebalance`, `demo`): stopped before the test, so that behaviour is what the
// test sees whatever ran before it, and put back as it was after. Only for `// exclusive:` files.
import assert from 'node:assert/strict';
import { ferry } from '../../lab/cli.ts';

/** Stops the operator's controller if one runs; returns what puts things back as they were. */
export async function withoutController(): Promise<() => Promise<void>> {
  const stop = await ferry('controller', 'stop');
  assert.equal(stop.status, 0, stop.stderr);
  const wasRunning = !/not running/.test(stop.stdout);
  assert.match((await ferry('controller', 'status')).stdout, /not running/, 'no controller runs');
  return async () => {
    await ferry('controller', 'stop'); // the one the test's commands started
    if (wasRunning) await ferry('controller', 'start');
  };
}

/** The operator's controller runs now (`what` started it: none ran before). */
export async function assertControllerRuns(what: string): Promise<void> {
  const status = await ferry('controller', 'status');
  assert.match(status.stdout, / runs: pid \d+/, `${what} started the controller: ${status.stdout}`);
}

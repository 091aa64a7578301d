// The drills of the matrix (drills/) that restart a shared service mid-migration, against the real
// stack, real agents and a real controller process of the drill's own; see drills.test.ts.
// exclusive: restarts the shared Redis and Temporal.
import { drillTests } from './support/drills.ts';

drillTests([
  // Redis (jobs, leases) gone mid-stream, its data kept: the clients wait it out, and the
  // autokill keepalive beats through it (it did not: Temporal timed it out, and its attempt, told
  // NOT_FOUND, dropped the lease; Finish then found it gone and rolled back).
  { name: 'restart-redis@perform', outcome: 'completed', slot: 27 },
  // The Temporal server gone while Confirm runs: the destination already runs the guest.
  { name: 'restart-temporal@confirm', outcome: 'completed', slot: 28 },
]);

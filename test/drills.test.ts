// A representative part of the drill matrix (drills/), against the real stack, real agents and a
// real controller process of the drill's own: each agent and the controller SIGKILLed at a phase
// that exercises a different recovery path, and a destination that never comes back. Each drill's
// verdict covers the invariants (one host, memory, no stray guest, job or lease, outcome and first
// error, the audit of its window); `ferry drill --matrix` runs all. The drills that restart a
// shared service are in drill-services.test.ts.
import { drillTests } from './support/drills.ts';

drillTests([
  // The stream breaks on the source's side: rolled back, the restarted agent resumes its guest.
  { name: 'kill-source-agent@perform', outcome: 'rolled-back', slot: 24 },
  // Prepare dispatched to a dead destination: it runs once the agent is back (or rolls back at
  // Prepare: the agent took longer than the pickup timeout, or Temporal handed the task to the
  // dead agent's last poll and the phase's heartbeat timed out after 10 s).
  { name: 'kill-destination-agent@prepare', slot: 25 },
  // The worker gone before Finish: Temporal resumes the workflow (the incoming guest survives if
  // the controller is back within the autokill TTL).
  { name: 'kill-controller@finish', slot: 26 },
  // The destination never back while the migration lives: the source resumes on its own, once
  // the cancelled Finish gave up after max(10 s, 4 autokill TTLs): 20 s with this drill's 5 s
  // lease, where the matrix's default 15 s makes it a minute.
  {
    name: 'kill-destination-agent-never@perform',
    outcome: 'rolled-back',
    slot: 29,
    settings: { autokillTtlMs: 5000 },
  },
]);

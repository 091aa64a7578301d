// A representative part of the drill matrix (drills/), against the real stack, real agents and a
// real controller process: each agent and the controller SIGKILLed at a phase that exercises a
// different recovery path, Redis and Temporal restarted mid-migration, and a destination that
// never comes back. Each drill's verdict covers the invariants (one host, memory, no stray guest,
// job or lease, outcome and first error, the audit of its window); `ferry drill --matrix` runs all.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { buildCatalog, findDrill } from '../drills/catalog.ts';
import { runDrill } from '../drills/run.ts';
import { createLogger } from '../infra/logging/logger.ts';
import { realStack } from './support/stack.ts';

// `outcome` where the protocol decides it alone; elsewhere the drill's own expectation (checked in
// its verdict) allows what timing decides, e.g. a destination back after the 30 s pickup timeout.
const SUBSET: { name: string; outcome?: string }[] = [
  // The stream breaks on the source's side: rolled back, the restarted agent resumes its guest.
  { name: 'kill-source-agent@perform', outcome: 'rolled-back' },
  // Prepare dispatched to a dead destination: it runs once the agent is back (or rolls back at
  // Prepare: the agent took longer than the pickup timeout, or Temporal handed the task to the
  // dead agent's last poll and the phase's heartbeat timed out after 10 s).
  { name: 'kill-destination-agent@prepare' },
  // The worker gone before Finish: Temporal resumes the workflow (the incoming guest survives if
  // the controller is back within the autokill TTL).
  { name: 'kill-controller@finish' },
  // Redis (jobs, leases) gone mid-stream, its data kept: the clients wait it out, and the
  // autokill keepalive beats through it (it did not: Temporal timed it out, and its attempt, told
  // NOT_FOUND, dropped the lease; Finish then found it gone and rolled back).
  { name: 'restart-redis@perform', outcome: 'completed' },
  // The Temporal server gone while Confirm runs: the destination already runs the guest.
  { name: 'restart-temporal@confirm', outcome: 'completed' },
  // The destination never back while the migration lives: the source resumes on its own.
  { name: 'kill-destination-agent-never@perform', outcome: 'rolled-back' },
];

const catalog = buildCatalog();
const log = createLogger('drill-test', 'error');

for (const [i, { name, outcome }] of SUBSET.entries()) {
  test(`drills - ${name} ends ${outcome ?? 'as expected'} and the cluster settles clean`, async () => {
    const cfg = await realStack();
    const drill = findDrill(catalog, name);
    assert.ok(drill, `${name} is in the catalog`);
    // Slots 24–29 (127.0.1.49–60): apart from the first drills of a matrix run.
    const r = await runDrill(cfg, log, drill, { slot: 24 + i });
    assert.equal(r.why, undefined, `${name}: ${r.why}`);
    assert.equal(r.passed, true);
    if (outcome) assert.equal(r.outcome, outcome, `${name} ended ${r.outcome}`);
  });
}

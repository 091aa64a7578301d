// The one mapping between the protocol's phase names, the job phases and the cookie phases
// (protocol/phases.ts) must cover each name exactly once and agree with the job table the Lua
// scripts use, or a phase would be recorded under the wrong job or side.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MIGRATION_PHASES, PHASES_OF } from '../../infra/redis/job-phases.ts';
import { COOKIE_PHASES, PHASE_NAMES, PHASE_SIDE, PHASES } from '../../protocol/phases.ts';

test('phases - every job phase belongs to exactly one protocol phase, of the job that phase runs under', () => {
  const seen = new Map<string, string>();
  for (const phase of PHASES) {
    const { job, jobPhases, cancelledJobPhase } = PHASE_NAMES[phase];
    for (const jobPhase of [...jobPhases, ...(cancelledJobPhase ? [cancelledJobPhase] : [])]) {
      assert.equal(
        seen.get(jobPhase),
        undefined,
        `${jobPhase} is mapped from ${seen.get(jobPhase)} and ${phase}`,
      );
      seen.set(jobPhase, phase);
      assert.ok(PHASES_OF[job].includes(jobPhase), `${phase}: ${jobPhase} is a phase of ${job}`);
    }
  }
  assert.deepEqual([...seen.keys()].sort(), [...MIGRATION_PHASES].sort());
});

test('phases - the source holds MIGRATION_OUT and the destination MIGRATION_IN, as PHASE_SIDE says', () => {
  for (const phase of PHASES) {
    const { side, job } = PHASE_NAMES[phase];
    assert.equal(PHASE_SIDE[phase], side, phase);
    assert.equal(job, side === 'source' ? 'MIGRATION_OUT' : 'MIGRATION_IN', phase);
  }
});

test('phases - every phase but Confirm issues the cookie of its own name, in protocol order', () => {
  assert.deepEqual(
    PHASES.filter((p) => PHASE_NAMES[p].cookie !== null),
    [...COOKIE_PHASES],
  );
  for (const phase of COOKIE_PHASES) assert.equal(PHASE_NAMES[phase].cookie, phase);
  assert.equal(PHASE_NAMES.confirm.cookie, null);
});

// Replay: the recorded migration histories (test/fixtures/histories) and rebalance and host
// operation histories (test/fixtures/operation-histories), each recorded by the record.ts beside
// them, run against today's workflow code, so a change that would break workflows already running
// (non-determinism) fails here rather than in production. Offline: no Temporal server needed.
// (The drain's histories replay in drain-replay.test.ts.)
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { before, test } from 'node:test';
import { bundleWorkflowCode, DefaultLogger, Worker, type WorkflowBundle } from '@temporalio/worker';
import { DeterminismViolationError } from '@temporalio/workflow';
import { routeTemporalLogs } from '../infra/logging/libraries.ts';
import { createLogger } from '../infra/logging/logger.ts';
import { loadHistories } from './fixtures/histories/histories.ts';

const TODAY = join(import.meta.dirname, '..', 'workflows', 'index.ts');
const REORDERED = join(import.meta.dirname, 'fixtures', 'replay', 'reordered-workflows.ts');
const REORDERED_REBALANCE = join(import.meta.dirname, 'fixtures', 'replay', 'reordered-rebalance.ts');
const OPERATIONS = join(import.meta.dirname, 'fixtures', 'operation-histories');
/** The scenarios the record.ts scripts record; each must have its file. */
const RECORDED = [
  'held-resumed',
  'refused-capacity',
  'rollback-cancelled',
  'success',
  'host-operation-refused',
  'host-operation-status',
  'rebalance-cancelled',
  'rebalance-moved',
];

const histories = [...loadHistories(), ...loadHistories(OPERATIONS)];
const logger = new DefaultLogger('WARN');
// The failing replay's nondeterminism is logged by the SDK as a warning: expected here.
routeTemporalLogs(createLogger('workflow-replay', 'error'));
let today: WorkflowBundle;

before(async () => {
  today = await bundleWorkflowCode({ workflowsPath: TODAY, logger });
});

test('replay - every recorded scenario has its history', () => {
  assert.deepEqual(
    histories.map((h) => h.name),
    RECORDED,
  );
});

for (const { name, workflowId, history } of histories) {
  test(`replay - ${name} replays against today's workflow code`, async () => {
    await Worker.runReplayHistory(
      { workflowBundle: today, replayName: `replay-${name}` },
      history,
      workflowId,
    );
  });
}

/** Replays the recorded `scenario` against other workflow code: it must fail as non-deterministic. */
async function assertCaught(workflowsPath: string, scenario: string): Promise<void> {
  const changed = await bundleWorkflowCode({ workflowsPath, logger });
  const { workflowId, history } = histories.find((h) => h.name === scenario)!;
  await assert.rejects(
    Worker.runReplayHistory(
      { workflowBundle: changed, replayName: `replay-changed-${scenario}` },
      history,
      workflowId,
    ),
    (err: unknown) => {
      assert.ok(
        err instanceof DeterminismViolationError,
        `expected a DeterminismViolationError, got ${String(err)}`,
      );
      return true;
    },
  );
}

test('replay - a migrate that reorders its phases fails with DeterminismViolationError', async () => {
  await assertCaught(REORDERED, 'success');
});

test('replay - a rebalance that lists guests before the cluster fails with DeterminismViolationError', async () => {
  await assertCaught(REORDERED_REBALANCE, 'rebalance-moved');
});

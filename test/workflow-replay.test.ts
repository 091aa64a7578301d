// Replay: the recorded migration histories (test/fixtures/histories, recorded by record.ts there)
// run against today's workflow code, so a change that would break migrations already running
// (non-determinism) fails here rather than in production. Offline: no Temporal server needed.
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
/** The scenarios record.ts records; each must have its file. */
const RECORDED = ['held-resumed', 'refused-capacity', 'rollback-cancelled', 'success'];

const histories = loadHistories();
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

test('replay - a migrate that reorders its phases fails with DeterminismViolationError', async () => {
  const reordered = await bundleWorkflowCode({ workflowsPath: REORDERED, logger });
  const { workflowId, history } = histories.find((h) => h.name === 'success')!;
  await assert.rejects(
    Worker.runReplayHistory(
      { workflowBundle: reordered, replayName: 'replay-reordered' },
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
});

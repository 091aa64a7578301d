// Replay: recorded drain histories (test/fixtures/drain-histories, recorded by record.ts there) run
// against today's workflow code, so a change to the drain that would break drains already running
// fails here. Offline: no Temporal server needed.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { before, test } from 'node:test';
import { bundleWorkflowCode, DefaultLogger, Worker, type WorkflowBundle } from '@temporalio/worker';
import { routeTemporalLogs } from '../infra/logging/libraries.ts';
import { createLogger } from '../infra/logging/logger.ts';
import { historyFromJSON } from './fixtures/histories/histories.ts';

const TODAY = join(import.meta.dirname, '..', 'workflows', 'index.ts');
const DIR = join(import.meta.dirname, 'fixtures', 'drain-histories');
const RECORDED = ['drain-cancelled', 'drain-moved'];

const recorded = readdirSync(DIR)
  .filter((f) => f.endsWith('.json'))
  .sort()
  .map((f) => {
    const json = JSON.parse(readFileSync(join(DIR, f), 'utf8')) as { workflowId?: unknown };
    if (typeof json.workflowId !== 'string') throw new TypeError(`${f}: no workflowId`);
    return { name: f.slice(0, -'.json'.length), workflowId: json.workflowId, history: historyFromJSON(json) };
  });
routeTemporalLogs(createLogger('drain-replay', 'error'));
let today: WorkflowBundle;

before(async () => {
  today = await bundleWorkflowCode({ workflowsPath: TODAY, logger: new DefaultLogger('WARN') });
});

test('drain replay - every recorded scenario has its history', () => {
  assert.deepEqual(
    recorded.map((h) => h.name),
    RECORDED,
  );
});

for (const { name, workflowId, history } of recorded) {
  test(`drain replay - ${name} replays against today's workflow code`, async () => {
    await Worker.runReplayHistory(
      { workflowBundle: today, replayName: `replay-${name}` },
      history,
      workflowId,
    );
  });
}

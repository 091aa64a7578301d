// exclusive: stops and restarts the shared Temporal server.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Client } from '@temporalio/client';
import { Worker } from '@temporalio/worker';
import type { Config } from '../infra/config.ts';
import { routeTemporalLogs } from '../infra/logging/libraries.ts';
import { createLogger } from '../infra/logging/logger.ts';
import { servicePidFile, startService, stopService } from '../infra/stack/stack.ts';
import { connectClient } from '../infra/temporal/connect.ts';
import { dataConverter } from '../infra/temporal/data-converter.ts';
import { connectWorker } from '../infra/temporal/connect-worker.ts';
import { greetWorkflow, timerWorkflow } from './fixtures/workflows.ts';
import { realStack, uniqueName } from '../lab/stack.ts';

let cfg: Config;
let client: Client;
let worker: Worker;
let running: Promise<void>;
const taskQueue = uniqueName('test-temporal');

before(async () => {
  cfg = await realStack();
  routeTemporalLogs(createLogger('test-temporal', 'error'));
  client = await connectClient(cfg);
  const converter = dataConverter(cfg);
  worker = await Worker.create({
    connection: await connectWorker(cfg),
    namespace: cfg.temporal.namespace,
    taskQueue,
    workflowsPath: join(import.meta.dirname, 'fixtures', 'workflows.ts'),
    activities: { greet: (name: string) => Promise.resolve(`hello, ${name}`) },
    // The client's codec (keyring on): the worker must read what it encrypted.
    ...(converter ? { dataConverter: converter } : {}),
  });
  running = worker.run();
});

after(async () => {
  worker.shutdown();
  await running;
  await client.connection.close();
});

test('temporal - a worker runs a workflow with an activity', async () => {
  const result = await client.workflow.execute(greetWorkflow, {
    taskQueue,
    workflowId: uniqueName('greet'),
    args: ['ferry'],
  });
  assert.equal(result, 'hello, ferry');
});

test('temporal - a workflow waiting on a timer completes after the server is stopped and started', async () => {
  const workflowId = uniqueName('timer');
  const handle = await client.workflow.start(timerWorkflow, { taskQueue, workflowId, args: [6000] });
  // Wait until the timer is durably recorded before pulling the server away.
  for (;;) {
    const history = await handle.fetchHistory();
    if (history.events?.some((e) => e.timerStartedEventAttributes)) break;
    await sleep(100);
  }
  const before = servicePidFile(cfg, 'temporal');
  await stopService(cfg, 'temporal', () => undefined);
  await sleep(1000);
  const restarted = await startService(cfg, 'temporal', () => undefined);
  assert.equal(restarted.outcome, 'started');
  assert.notEqual(restarted.pid, before?.pid, 'a new server process');
  // The old connection's channel reconnects on its own; the worker's too.
  assert.equal(await handle.result(), 'hello, after the timer');
  const history = await handle.fetchHistory();
  assert.ok(
    history.events?.some((e) => e.timerFiredEventAttributes),
    'the timer fired after the restart',
  );
});

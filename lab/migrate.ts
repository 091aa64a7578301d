// A controller of the test's own (the migration workflow's worker, on a task queue no other test
// uses) and the calls tests make on it: run a migration to its end, or start one and act on it.
import { randomUUID } from 'node:crypto';
import { Client, type WorkflowHandle } from '@temporalio/client';
import { Controller } from '../workers/controller/controller.ts';
import type { Config } from '../infra/config.ts';
import { routeTemporalLogs } from '../infra/logging/libraries.ts';
import { createLogger } from '../infra/logging/logger.ts';
import { connectClient } from '../infra/temporal/connect.ts';
import type { migrate } from '../workflows/migrate.ts';
import { progress } from '../workflows/migration/messages.ts';
import type { MigrateInput, MigrationProgressView, MigrationReport } from '../protocol/migration.ts';
import { uniqueName } from './stack.ts';

export interface TestController {
  client: Client;
  taskQueue: string;
  start(input: MigrateInput): Promise<WorkflowHandle<typeof migrate>>;
  run(input: MigrateInput): Promise<MigrationReport>;
  /** Polls the progress query until `until` holds. */
  waitFor(
    handle: WorkflowHandle<typeof migrate>,
    until: (p: MigrationProgressView) => boolean,
    timeoutMs?: number,
  ): Promise<MigrationProgressView>;
  /** Stops the controller's worker and starts another on the same task queue (a controller restart). */
  restart(): Promise<void>;
  stop(): Promise<void>;
}

export async function startTestController(cfg: Config): Promise<TestController> {
  const log = createLogger('test-controller', 'error');
  routeTemporalLogs(log);
  const taskQueue = uniqueName('test-control');
  let controller = await Controller.start(cfg, log, taskQueue);
  const client = await connectClient(cfg);
  const start = (input: MigrateInput) =>
    client.workflow.start<typeof migrate>('migrate', {
      taskQueue,
      workflowId: `m-${randomUUID()}`,
      args: [input],
    });
  return {
    client,
    taskQueue,
    start,
    run: async (input) => (await start(input)).result(),
    async waitFor(handle, until, timeoutMs = 60_000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const p = await handle.query(progress);
        if (until(p)) return p;
        if (Date.now() > deadline)
          throw new Error(
            `${handle.workflowId} did not reach ${until.toString()} within ${timeoutMs} ms: ${JSON.stringify(p)}`,
          );
        await new Promise((r) => setTimeout(r, 100));
      }
    },
    async restart() {
      await controller.stop();
      controller = await Controller.start(cfg, log, taskQueue);
    },
    async stop() {
      await client.connection.close();
      await controller.stop();
    },
  };
}

// Runs the bare migration fixture (test/fixtures/migrate-workflow.ts) on a worker of the test's own.
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { Worker } from '@temporalio/worker';
import type { Config } from '../../infra/config.ts';
import { routeTemporalLogs } from '../../infra/logging/libraries.ts';
import { createLogger } from '../../infra/logging/logger.ts';
import { connectClient, connectWorker } from '../../infra/temporal/connect.ts';
import { migrateFixture, type MigrateFixtureInput } from '../fixtures/migrate-workflow.ts';
import { uniqueName } from './stack.ts';

export async function runMigration(cfg: Config, input: Omit<MigrateFixtureInput, 'migrationId'>) {
  routeTemporalLogs(createLogger('migrate', 'error'));
  const taskQueue = uniqueName('test-migrate');
  const migrationId = `m-${randomUUID()}`;
  const client = await connectClient(cfg);
  const connection = await connectWorker(cfg);
  try {
    const worker = await Worker.create({
      connection,
      namespace: cfg.temporal.namespace,
      taskQueue,
      workflowsPath: join(import.meta.dirname, '..', 'fixtures', 'migrate-workflow.ts'),
    });
    const result = worker.runUntil(
      client.workflow.execute(migrateFixture, {
        taskQueue,
        workflowId: migrationId,
        args: [{ ...input, migrationId }],
      }),
    );
    return { migrationId, result: await result };
  } finally {
    await client.connection.close();
    await connection.close();
  }
}

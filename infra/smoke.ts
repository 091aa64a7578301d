// Runs the smoke workflow end to end: a worker in this process, the workflow through the Temporal
// server, its event read back from Kafka by a consumer group.
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { Worker } from '@temporalio/worker';
import { createSmokeActivities, SMOKE_TOPIC, type PublishedEvent } from '../activities/smoke.ts';
import { smokeWorkflow, type SmokeResult } from '../workflows/smoke.ts';
import type { Config } from './config.ts';
import { createKafka, createProducer, ensureTopic } from './kafka/bus.ts';
import { createRedis } from './redis/client.ts';
import { connectClient, connectWorker } from './temporal/connect.ts';
import { routeTemporalLogs } from './logging/libraries.ts';
import { createLogger } from './logging/logger.ts';

export interface SmokeReport extends SmokeResult {
  workflowId: string;
  taskQueue: string;
  historyEvents: number;
}

export async function runSmoke(cfg: Config, log: (line: string) => void): Promise<SmokeReport> {
  routeTemporalLogs(createLogger('smoke', 'warn'));
  const runId = randomUUID();
  const taskQueue = `ferry-smoke-${runId.slice(0, 8)}`;
  const kafka = createKafka(cfg, 'ferry-smoke');
  const admin = kafka.admin();
  const producer = createProducer(kafka);
  const redis = createRedis(cfg, 'ferry-smoke');
  const client = await connectClient(cfg);
  const nativeConnection = await connectWorker(cfg);
  try {
    await admin.connect();
    await ensureTopic(admin, SMOKE_TOPIC);
    await producer.connect();
    log('bundling workflows and starting a worker...');
    const worker = await Worker.create({
      connection: nativeConnection,
      namespace: cfg.temporal.namespace,
      taskQueue,
      workflowsPath: join(import.meta.dirname, '..', 'workflows', 'index.ts'),
      activities: createSmokeActivities({ producer, redis }),
    });
    const workflowId = `smoke-${runId}`;
    const result = await worker.runUntil(
      client.workflow.execute(smokeWorkflow, { taskQueue, workflowId, args: [runId] }),
    );
    const history = await client.workflow.getHandle(workflowId).fetchHistory();
    const historyEvents = history.events?.length ?? 0;
    await readBack(cfg, result.event, runId);
    return { ...result, workflowId, taskQueue, historyEvents };
  } finally {
    await producer.disconnect();
    await admin.disconnect();
    redis.disconnect();
    await client.connection.close();
    await nativeConnection.close();
  }
}

/** Reads the published event back through a consumer group, proving the round trip. */
async function readBack(cfg: Config, event: PublishedEvent, runId: string): Promise<void> {
  const consumer = createKafka(cfg, 'ferry-smoke-reader').consumer({ groupId: `ferry-smoke-${runId}` });
  await consumer.connect();
  try {
    await consumer.subscribe({ topic: SMOKE_TOPIC, fromBeginning: true });
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`event ${runId} not read back within 30 s`)), 30_000);
      void consumer.run({
        // eslint-disable-next-line @typescript-eslint/require-await -- kafkajs wants a promise-returning handler
        eachMessage: async ({ message, partition }) => {
          if (
            message.key?.toString() === runId &&
            partition === event.partition &&
            message.offset === event.offset
          ) {
            clearTimeout(timer);
            resolve();
          }
        },
      });
    });
  } finally {
    await consumer.disconnect();
  }
}

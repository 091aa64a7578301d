// All of ferry's Kafka access goes through here (kafkajs is unmaintained; a client swap should
// stay a one-file change).
import { Kafka, logLevel, Partitioners, type Admin, type Producer } from 'kafkajs';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Config } from '../config.ts';
import './request-queue-idle.ts';
import { kafkaLogCreator } from '../logging/libraries.ts';
import { createLogger, type Logger } from '../logging/logger.ts';

export function createKafka(
  cfg: Config,
  clientId: string,
  logger: Logger = createLogger(clientId, 'warn'),
): Kafka {
  return new Kafka({
    clientId,
    brokers: cfg.kafka.brokers,
    logLevel: logLevel.WARN,
    logCreator: kafkaLogCreator(logger),
    connectionTimeout: 3000,
    retry: { retries: 8, initialRetryTime: 200 },
  });
}

/**
 * An idempotent producer with kafkajs's default (murmur2, Java-compatible) partitioner. Retries are
 * bounded on purpose: a send fails while Kafka is down and the caller's outbox retries it, at least
 * once, with event ids for readers to drop duplicates.
 */
export function createProducer(kafka: Kafka): Producer {
  return kafka.producer({
    idempotent: true,
    maxInFlightRequests: 1,
    createPartitioner: Partitioners.DefaultPartitioner,
  });
}

/**
 * Creates a topic if missing and waits until every partition has a leader: a produce to a topic
 * whose leader is not yet known fails in kafkajs with "does not host this topic-partition".
 */
export async function ensureTopic(
  admin: Admin,
  topic: string,
  partitions = 1,
  timeoutMs = 30_000,
): Promise<void> {
  if (!(await admin.listTopics()).includes(topic)) {
    await admin.createTopics({
      topics: [{ topic, numPartitions: partitions, replicationFactor: 1 }],
      waitForLeaders: true,
    });
  }
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const meta = await admin.fetchTopicMetadata({ topics: [topic] }).catch(() => undefined);
    const parts = meta?.topics[0]?.partitions ?? [];
    if (parts.length >= partitions && parts.every((p) => p.leader >= 0)) return;
    if (Date.now() > deadline) throw new Error(`topic ${topic} has no leader after ${timeoutMs} ms`);
    await sleep(100);
  }
}

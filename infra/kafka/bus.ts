// All of ferry's Kafka access goes through here (kafkajs is unmaintained; a client swap should
// stay a one-file change).
import { Kafka, logLevel, Partitioners, type Admin, type Producer } from 'kafkajs';
import type { Config } from '../config.ts';
import './request-queue-idle.ts';
import { kafkaLogCreator } from '../logging/libraries.ts';
import { createLogger, type Logger } from '../logging/logger.ts';
import type { IdentityBundle } from '../pki/index.ts';
import { kafkaClientSecurity } from './client-security.ts';
import { EVENTS_TOPIC, requireTopic, waitForLeaders } from './topics.ts';

/**
 * A client of cfg.kafka.brokers; with security on it presents `identity` (default: the process's
 * own, see infra/pki/process-identity.ts) over TLS and SCRAM-SHA-512.
 */
export function createKafka(
  cfg: Config,
  clientId: string,
  logger: Logger = createLogger(clientId, 'warn'),
  identity?: IdentityBundle,
): Kafka {
  return new Kafka({
    clientId,
    brokers: cfg.kafka.brokers,
    logLevel: logLevel.WARN,
    logCreator: kafkaLogCreator(logger),
    connectionTimeout: 3000,
    retry: { retries: 8, initialRetryTime: 200 },
    ...kafkaClientSecurity(cfg, identity),
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
 * For scratch topics (tests, the lab) and the dead-letter topic ferry's readers are given; ferry's
 * own topics are created only by provisionTopics (topics.ts), and the event log is only required
 * (requireTopic), never created by a client.
 */
export async function ensureTopic(
  admin: Admin,
  topic: string,
  partitions = 1,
  timeoutMs = 30_000,
): Promise<void> {
  // The event log is the audit record: a client that finds it missing says so, never makes it anew.
  if (topic === EVENTS_TOPIC) return requireTopic(admin, topic, timeoutMs);
  if (!(await admin.listTopics()).includes(topic)) {
    await admin.createTopics({
      topics: [{ topic, numPartitions: partitions, replicationFactor: 1 }],
      waitForLeaders: true,
    });
  }
  await waitForLeaders(admin, topic, partitions, timeoutMs);
}

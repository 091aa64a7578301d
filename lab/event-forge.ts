// Events made up for tests and benchmarks, stamped as an outbox stamps them (id, version, time,
// per-host gap-free seq) on a clock of their own, and written to a topic of the test's own.
import { randomUUID } from 'node:crypto';
import type { Kafka, Message } from 'kafkajs';
import { EVENT_VERSION, type EventInput, type FerryEvent } from '../protocol/events.ts';
import { createProducer, ensureTopic } from '../infra/kafka/bus.ts';

export class EventForge {
  private readonly seqs = new Map<string, number>();

  constructor(public now = Date.UTC(2026, 0, 1, 9)) {}

  /** Stamps `input` as recorded by `host`, `afterMs` after the previous event. */
  record(host: string, input: EventInput, afterMs = 1): FerryEvent {
    this.now += afterMs;
    const seq = this.seqs.get(host) ?? 0;
    this.seqs.set(host, seq + 1);
    return {
      id: randomUUID(),
      version: EVENT_VERSION,
      time: new Date(this.now).toISOString(),
      host,
      seq,
      migrationId: null,
      ...input,
    };
  }
}

/** How a shipper writes an event: keyed by VM (or host), JSON value. */
export function asMessage(e: FerryEvent): Message {
  return { key: e.vm ?? `host:${e.host}`, value: JSON.stringify(e) };
}

/** A topic of the caller's, with the event log's partitioning. */
export async function createTopic(kafka: Kafka, topic: string, partitions = 6): Promise<void> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    await ensureTopic(admin, topic, partitions);
  } finally {
    await admin.disconnect();
  }
}

export async function deleteTopics(kafka: Kafka, topics: string[]): Promise<void> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    const existing = new Set(await admin.listTopics());
    const gone = topics.filter((t) => existing.has(t));
    if (gone.length > 0) await admin.deleteTopics({ topics: gone });
  } finally {
    await admin.disconnect();
  }
}

/** Writes messages in order (one producer, one request at a time). */
export async function writeMessages(kafka: Kafka, topic: string, messages: Message[]): Promise<void> {
  const producer = createProducer(kafka);
  await producer.connect();
  try {
    await producer.send({ topic, messages });
  } finally {
    await producer.disconnect();
  }
}

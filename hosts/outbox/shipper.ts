// Ships the outbox to Kafka in order, in batches, acknowledging only what Kafka acknowledged.
// While Kafka is unreachable it keeps the events and says so in the log, once per interval.
import type { Kafka, Producer } from 'kafkajs';
import { setTimeout as sleep } from 'node:timers/promises';
import { EVENTS_PARTITIONS, EVENTS_TOPIC } from '../../protocol/events.ts';
import { createProducer, ensureTopic } from '../../infra/kafka/bus.ts';
import type { Logger } from '../../infra/logging/logger.ts';
import type { Outbox } from './outbox.ts';

const BATCH = 500;
const BEHIND_LOG_EVERY_MS = 10_000;

export class Shipper {
  private stopped = false;
  private producer: Producer | undefined;
  private loop: Promise<void> | undefined;
  private lastBehindLog = 0;

  constructor(
    private readonly kafka: Kafka,
    private readonly outbox: Outbox,
    private readonly log: Logger,
    private readonly topic: string = EVENTS_TOPIC,
  ) {}

  start(): void {
    this.loop = this.run();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    await this.loop;
    await this.producer?.disconnect().catch(() => undefined);
  }

  /** Waits until everything recorded so far is in Kafka (tests and orderly shutdown). */
  async drain(timeoutMs: number): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    while (this.outbox.backlog > 0 && Date.now() < deadline) await sleep(50);
    return this.outbox.backlog === 0;
  }

  private async run(): Promise<void> {
    while (!this.stopped) {
      await this.outbox.waitForEvents(500);
      const batch = this.outbox.peek(BATCH);
      if (batch.length === 0) continue;
      try {
        const producer = await this.connected();
        await producer.send({
          topic: this.topic,
          messages: batch.map((e) => ({
            key: e.vm ?? `host:${e.host}`,
            value: JSON.stringify(e),
            headers: { 'ferry-event-id': e.id, 'ferry-event-type': e.type },
          })),
        });
        this.outbox.acknowledge(batch.at(-1)!.seq);
        if (this.lastBehindLog > 0 && this.outbox.backlog === 0) {
          this.log.info('event log caught up: every recorded event is in Kafka');
          this.lastBehindLog = 0;
        }
      } catch (err) {
        await this.producer?.disconnect().catch(() => undefined);
        this.producer = undefined;
        if (Date.now() - this.lastBehindLog > BEHIND_LOG_EVERY_MS) {
          this.lastBehindLog = Date.now();
          this.log.warn(
            'behind: events wait in the outbox because Kafka is unreachable; they will be shipped',
            {
              unshipped: this.outbox.backlog,
              error: (err as Error).message,
            },
          );
        }
        await sleep(1000);
      }
    }
  }

  private async connected(): Promise<Producer> {
    if (this.producer) return this.producer;
    const admin = this.kafka.admin();
    await admin.connect();
    try {
      await ensureTopic(admin, this.topic, EVENTS_PARTITIONS);
    } finally {
      await admin.disconnect();
    }
    const producer = createProducer(this.kafka);
    await producer.connect();
    this.producer = producer;
    return producer;
  }
}

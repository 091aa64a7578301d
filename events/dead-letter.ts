// The dead-letter topic: every message a reader of the event log could not take as an event goes
// here unchanged, with why and where it came from in its headers, so the reader can go on (a bad
// message never stops a consumer) and an operator can still find and repair it.
//
// Readers replay the log, so the same bad message is dead-lettered by every replay that meets it:
// its key is its origin (topic/partition/offset), by which a reader of this topic drops repeats.
import type { IHeaders, Kafka, Producer } from 'kafkajs';
import { createProducer, ensureTopic } from '../infra/kafka/bus.ts';
import { talkingToKafka } from './errors.ts';

export const DEAD_LETTER_TOPIC = 'ferry.events.dead';

export const DEAD_HEADERS = {
  reason: 'ferry-dead-reason',
  topic: 'ferry-origin-topic',
  partition: 'ferry-origin-partition',
  offset: 'ferry-origin-offset',
  at: 'ferry-dead-at',
} as const;

export interface Origin {
  topic: string;
  partition: number;
  offset: string;
}

export interface Rejected extends Origin {
  reason: string;
  /** False if the dead-letter topic could not take it either (Kafka trouble): only this report has it. */
  deadLettered: boolean;
}

export class DeadLetters {
  private producer: Producer | undefined;

  private constructor(
    private readonly kafka: Kafka,
    readonly topic: string,
  ) {}

  /** Creates the topic if missing (one partition: it is small and read in order of arrival). */
  static async open(kafka: Kafka, topic = DEAD_LETTER_TOPIC): Promise<DeadLetters> {
    return talkingToKafka(`opening ${topic}`, async () => {
      const admin = kafka.admin();
      await admin.connect();
      try {
        await ensureTopic(admin, topic, 1);
      } finally {
        await admin.disconnect();
      }
      return new DeadLetters(kafka, topic);
    });
  }

  /** Sends the message on with its reason; false (never a throw) if Kafka refuses it. */
  async send(
    origin: Origin,
    message: { key: Buffer | null; value: Buffer | null; headers?: IHeaders },
    reason: string,
  ): Promise<boolean> {
    try {
      this.producer ??= await this.connect();
      await this.producer.send({
        topic: this.topic,
        messages: [
          {
            key: `${origin.topic}/${origin.partition}/${origin.offset}`,
            value: message.value,
            headers: {
              ...message.headers,
              ...(message.key ? { 'ferry-origin-key': message.key } : {}),
              [DEAD_HEADERS.reason]: reason,
              [DEAD_HEADERS.topic]: origin.topic,
              [DEAD_HEADERS.partition]: String(origin.partition),
              [DEAD_HEADERS.offset]: origin.offset,
              [DEAD_HEADERS.at]: new Date().toISOString(),
            },
          },
        ],
      });
      return true;
    } catch {
      await this.producer?.disconnect().catch(() => undefined);
      this.producer = undefined;
      return false;
    }
  }

  async close(): Promise<void> {
    await this.producer?.disconnect().catch(() => undefined);
    this.producer = undefined;
  }

  private async connect(): Promise<Producer> {
    const producer = createProducer(this.kafka);
    await producer.connect();
    return producer;
  }
}

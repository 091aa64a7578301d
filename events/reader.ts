// The audit's reader of the event log: a bounded read of a topic, from the beginning or from a
// time, up to the end offsets taken when it starts (what was in the log at that moment; later
// events wait for the next audit). Every message is validated; what fails goes to the dead-letter
// topic and the read goes on; copies of an event (at-least-once delivery) are dropped by id.
import { randomUUID } from 'node:crypto';
import type { Kafka } from 'kafkajs';
import type { DeadLetters, Rejected } from './dead-letter.ts';
import { EVENT_LOG_MISSING, EVENT_LOG_STALLED, EventLogError, talkingToKafka } from './errors.ts';
import { takeMessage, type Dedupe, type Scope } from './intake.ts';
import type { FerryEvent } from '../protocol/events.ts';
import { refOf, type EventRef } from './refs.ts';
import { SeqIndex } from './seq-index.ts';
import type { EventVerifier } from './signatures.ts';
import { UnverifiedTally } from './unverified.ts';

/** A read with no message for this long, while some partition is short of its end, has stalled. */
export const DEFAULT_STALL_MS = 30_000;
const MiB = 1024 * 1024;

export interface ReadLogOptions extends Omit<Scope, 'sinceMs'> {
  topic: string;
  /** Where rejected messages go; without it they are only reported. */
  deadLetters?: DeadLetters;
  /** Start at the first message Kafka stamped at or after this time (and skip events recorded before it). */
  since?: Date;
  stallMs?: number;
  /** How copies are recognised; by default a fresh SeqIndex (pass one to ask it for gaps after). */
  dedupe?: Dedupe;
  /** Checks each event's signature; without it signatures are not looked at. */
  verifier?: EventVerifier;
}

export type { Unverified } from './unverified.ts';

export interface ReadStats {
  /** Messages read in the range, whatever became of them. */
  messages: number;
  events: number;
  duplicates: number;
  /** Out of scope (another VM, before `since`). */
  skipped: number;
  rejected: Rejected[];
  /** Events refused by the signature check: the first of each kind, the rest counted. */
  unverified: UnverifiedTally;
}

interface Range {
  start: number;
  end: number;
}

export function readLog(
  kafka: Kafka,
  opts: ReadLogOptions,
  onEvent: (event: FerryEvent) => void,
): Promise<ReadStats> {
  return talkingToKafka(`reading ${opts.topic}`, () => read(kafka, opts, onEvent));
}

async function read(
  kafka: Kafka,
  opts: ReadLogOptions,
  onEvent: (event: FerryEvent) => void,
): Promise<ReadStats> {
  const stats: ReadStats = {
    messages: 0,
    events: 0,
    duplicates: 0,
    skipped: 0,
    rejected: [],
    unverified: new UnverifiedTally(),
  };
  const ranges = await rangesToRead(kafka, opts.topic, opts.since);
  if (ranges.size === 0) return stats;
  const scope: Scope = {
    ...(opts.vms ? { vms: opts.vms } : {}),
    ...(opts.since ? { sinceMs: opts.since.getTime() } : {}),
    ...(opts.hostEvents !== undefined ? { hostEvents: opts.hostEvents } : {}),
  };
  const seen = opts.dedupe ?? new SeqIndex();
  const consumer = kafka.consumer({
    groupId: `ferry-reader-${randomUUID()}`,
    // Fetches big enough for throughput, small enough not to hold the log in buffers.
    maxBytesPerPartition: 2 * MiB,
    maxBytes: 12 * MiB,
    maxWaitTimeInMs: 200,
  });
  let lastProgress = Date.now();
  let settle!: (err?: Error) => void;
  const finished = new Promise<void>((resolve, reject) => {
    settle = (err) => (err ? reject(err) : resolve());
  });
  await consumer.connect();
  try {
    await consumer.subscribe({ topic: opts.topic, fromBeginning: true });
    await consumer.run({
      autoCommit: false,
      eachBatch: async (payload) => {
        const batch = payload.batch;
        const range = ranges.get(batch.partition);
        if (!range) return;
        for (const message of batch.messages) {
          const offset = Number(message.offset);
          // A fetch may start before the seek applies, or run past the end taken at the start.
          if (offset < range.start || offset >= range.end) continue;
          stats.messages++;
          const taken = takeMessage(message, scope, seen, opts.verifier);
          if (taken.kind === 'event') {
            stats.events++;
            onEvent(taken.event);
          } else if (taken.kind === 'duplicate') stats.duplicates++;
          else if (taken.kind === 'skipped') stats.skipped++;
          else if (taken.kind === 'unverified') {
            const { unsigned, reason } = taken;
            const at = { topic: opts.topic, partition: batch.partition, offset: message.offset };
            stats.unverified.add({ ...at, unsigned, reason, claims: plainEventRef(taken.event) });
          } else {
            const origin = { topic: opts.topic, partition: batch.partition, offset: message.offset };
            const deadLettered = opts.deadLetters
              ? await opts.deadLetters.send(origin, message, taken.reason)
              : false;
            stats.rejected.push({ ...origin, reason: taken.reason, deadLettered });
          }
          range.start = offset + 1;
        }
        lastProgress = Date.now();
        if (range.start >= range.end || Number(batch.lastOffset()) >= range.end - 1) {
          ranges.delete(batch.partition);
          if (ranges.size === 0) settle();
        }
        await payload.heartbeat();
      },
    });
    // Applied before the next fetch of each partition (kafkajs drops fetched data a seek overtakes).
    for (const [partition, range] of ranges) {
      consumer.seek({ topic: opts.topic, partition, offset: String(range.start) });
    }
    const stallMs = opts.stallMs ?? DEFAULT_STALL_MS;
    const watchdog = setInterval(() => {
      if (Date.now() - lastProgress < stallMs) return;
      const left = [...ranges].map(([p, r]) => `partition ${p} at ${r.start} of ${r.end}`).join(', ');
      settle(
        new EventLogError(EVENT_LOG_STALLED, `reading ${opts.topic} stalled: ${left}`, {
          hint: 'is Kafka up (`ferry stack status`)?',
        }),
      );
    }, 1000);
    try {
      await finished;
    } finally {
      clearInterval(watchdog);
    }
    return stats;
  } finally {
    await consumer.disconnect().catch(() => undefined);
  }
}

/** Per partition, the offsets to read: [start, end) with end the high watermark now. */
async function rangesToRead(kafka: Kafka, topic: string, since?: Date): Promise<Map<number, Range>> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    if (!(await admin.listTopics()).includes(topic)) {
      throw new EventLogError(EVENT_LOG_MISSING, `there is no topic ${topic}`, {
        hint: 'no agent has published yet, or the name is wrong',
      });
    }
    const ends = await admin.fetchTopicOffsets(topic);
    const starts = since ? await admin.fetchTopicOffsetsByTimestamp(topic, since.getTime()) : undefined;
    const ranges = new Map<number, Range>();
    for (const p of ends) {
      const from = starts?.find((s) => s.partition === p.partition)?.offset ?? p.low;
      const range = { start: Math.max(Number(from), Number(p.low)), end: Number(p.high) };
      if (range.start < range.end) ranges.set(p.partition, range);
    }
    return ranges;
  } finally {
    await admin.disconnect();
  }
}

function plainEventRef(e: FerryEvent): EventRef {
  const r = refOf(e);
  return { host: r.host, seq: r.seq, id: r.id, type: r.type, time: r.time };
}

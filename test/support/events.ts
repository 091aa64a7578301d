// Reads ferry's event log back from Kafka the way an auditor would, validated and de-duplicated by
// event id, but only from where the log ended when the test file started: the shared log holds
// every earlier test's events (hundreds of thousands by the end of a run), and a test looks only
// at the guests it made.
import { setTimeout as sleep } from 'node:timers/promises';
import { EVENTS_TOPIC, parseEvent, type FerryEvent } from '../../protocol/events.ts';
import { loadConfig, type Config } from '../../infra/config.ts';
import { createKafka } from '../../infra/kafka/bus.ts';
import { createLogger } from '../../infra/logging/logger.ts';
import { uniqueName } from '../../lab/stack.ts';

/** Per partition, the first offset this file reads; empty if the log did not exist yet. */
type Mark = Map<number, number>;

async function endOfLog(cfg: Config): Promise<Mark> {
  const admin = createKafka(
    cfg,
    'test-reader-mark',
    createLogger('test-reader-mark', 'error', () => undefined),
  ).admin();
  await admin.connect();
  try {
    if (!(await admin.listTopics()).includes(EVENTS_TOPIC)) return new Map();
    const ends = await admin.fetchTopicOffsets(EVENTS_TOPIC);
    return new Map(ends.map((p) => [p.partition, Number(p.high)]));
  } finally {
    await admin.disconnect();
  }
}

/** Taken when the file is loaded, before its tests act; a failure surfaces in readEvents. */
const startOfFile: Promise<Mark> = endOfLog(loadConfig());
startOfFile.catch(() => undefined);

/**
 * The events matching `keep` (recorded since this file was loaded), first copy of each, in log order, read until `done(events)` holds
 * (failing after `timeoutMs`, saying what was awaited), then a moment longer so late duplicates would show.
 */
export async function readEvents(
  cfg: Config,
  keep: (e: FerryEvent) => boolean,
  done: (events: FerryEvent[]) => boolean,
  timeoutMs = 30_000,
): Promise<FerryEvent[]> {
  const kafka = createKafka(
    cfg,
    'test-reader',
    createLogger('test-reader', 'error', () => undefined),
  );
  const consumer = kafka.consumer({ groupId: uniqueName('test-reader') });
  const events: FerryEvent[] = [];
  const mark = await startOfFile;
  await consumer.connect();
  try {
    await consumer.subscribe({ topic: EVENTS_TOPIC, fromBeginning: true });
    await consumer.run({
      eachMessage: ({ partition, message }) => {
        // A fetch may start before the seek below applies.
        if (Number(message.offset) < (mark.get(partition) ?? 0)) return Promise.resolve();
        const e = parseEvent(JSON.parse(String(message.value)));
        if (keep(e) && !events.some((s) => s.id === e.id)) events.push(e);
        return Promise.resolve();
      },
    });
    for (const [partition, offset] of mark) {
      consumer.seek({ topic: EVENTS_TOPIC, partition, offset: String(offset) });
    }
    const deadline = Date.now() + timeoutMs;
    while (!done(events)) {
      if (Date.now() > deadline) {
        const got = events.map((e) => `${e.type}@${e.host}`).join(', ');
        throw new Error(
          `the events awaited (${done.toString()}) did not arrive within ${timeoutMs} ms; got: ${got}`,
        );
      }
      await sleep(100);
    }
    await sleep(500);
    return events;
  } finally {
    await consumer.disconnect();
  }
}

// Reads ferry's event log back from Kafka the way an auditor would: from the start, validated,
// de-duplicated by event id.
import { setTimeout as sleep } from 'node:timers/promises';
import { EVENTS_TOPIC, parseEvent, type FerryEvent } from '../../protocol/events.ts';
import type { Config } from '../../infra/config.ts';
import { createKafka } from '../../infra/kafka/bus.ts';
import { createLogger } from '../../infra/logging/logger.ts';
import { uniqueName } from '../../lab/stack.ts';

/**
 * The events matching `keep`, first copy of each, in log order, read until `done(events)` holds
 * (or 30 s pass), then a moment longer so late duplicates would show.
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
  await consumer.connect();
  try {
    await consumer.subscribe({ topic: EVENTS_TOPIC, fromBeginning: true });
    await consumer.run({
      eachMessage: ({ message }) => {
        const e = parseEvent(JSON.parse(String(message.value)));
        if (keep(e) && !events.some((s) => s.id === e.id)) events.push(e);
        return Promise.resolve();
      },
    });
    const deadline = Date.now() + timeoutMs;
    while (!done(events) && Date.now() < deadline) await sleep(100);
    await sleep(500);
    return events;
  } finally {
    await consumer.disconnect();
  }
}

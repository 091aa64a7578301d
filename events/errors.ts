import { FerryError } from '../errors/ferry-error.ts';

export const EVENT_LOG_MISSING = 'EVENT_LOG_MISSING';
export const EVENT_LOG_STALLED = 'EVENT_LOG_STALLED';
export const EVENT_LOG_UNREACHABLE = 'EVENT_LOG_UNREACHABLE';
export type EventLogErrorCode =
  typeof EVENT_LOG_MISSING | typeof EVENT_LOG_STALLED | typeof EVENT_LOG_UNREACHABLE;

/** Reading the event log failed as a whole (a single bad message never does: it is dead-lettered). */
export class EventLogError extends FerryError {
  constructor(
    readonly code: EventLogErrorCode,
    message: string,
    options?: { cause?: unknown; hint?: string },
  ) {
    super(message, options);
  }
}

/** Runs `work`, turning a Kafka client failure into one line an operator can act on. */
export async function talkingToKafka<T>(what: string, work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (err) {
    // kafkajs's error classes are not reachable as named ESM exports; their names all say KafkaJS.
    if (!(err instanceof Error && err.name.startsWith('KafkaJS'))) throw err;
    throw new EventLogError(EVENT_LOG_UNREACHABLE, `${what}: ${err.message}`, {
      cause: err,
      hint: 'is Kafka up (`ferry stack status`)?',
    });
  }
}

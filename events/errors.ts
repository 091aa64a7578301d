import { FerryError } from '../errors/ferry-error.ts';

export const EVENT_LOG_MISSING = 'EVENT_LOG_MISSING';
export const EVENT_LOG_STALLED = 'EVENT_LOG_STALLED';
export type EventLogErrorCode = typeof EVENT_LOG_MISSING | typeof EVENT_LOG_STALLED;

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

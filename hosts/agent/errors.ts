import { FerryError } from '../../errors/ferry-error.ts';

export const GUEST_EXISTS = 'GUEST_EXISTS';
export const GUEST_UNKNOWN = 'GUEST_UNKNOWN';
export const GUEST_START_FAILED = 'GUEST_START_FAILED';

/** A guest operation failed: says which VM, on which host, doing what. */
export class GuestError extends FerryError {
  constructor(
    readonly code: string,
    readonly vm: string,
    readonly host: string,
    message: string,
    options?: { cause?: unknown; hint?: string },
  ) {
    super(`${vm} on ${host}: ${message}`, options);
  }
}

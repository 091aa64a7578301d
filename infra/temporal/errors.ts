import { FerryError } from '../../errors/ferry-error.ts';

/** Temporal's frontend (or its TLS front) did not take the connection. */
export class TemporalUnreachableError extends FerryError {
  readonly code = 'TEMPORAL_UNREACHABLE';
}

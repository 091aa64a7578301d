/**
 * The base of every error ferry expects to meet in operation (bad input, a service that is down,
 * a phase that failed). The CLI prints these as one line with their hint; anything else is a bug
 * and keeps its stack trace.
 */
export abstract class FerryError extends Error {
  /** Stable, machine-readable code, e.g. `SAVEVM_TRUNCATED` or `STACK_PORT_TAKEN`. */
  abstract readonly code: string;
  /** What the operator should do next; printed after the message. */
  readonly hint: string | undefined;

  constructor(message: string, options?: { cause?: unknown; hint?: string }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.hint = options?.hint;
  }
}

export function isFerryError(err: unknown): err is FerryError {
  return err instanceof FerryError;
}

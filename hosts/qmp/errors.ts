import { FerryError } from '../../errors/ferry-error.ts';

/** QEMU answered a command with an error. */
export class QmpCommandError extends FerryError {
  readonly code = 'QMP_COMMAND_FAILED';
  constructor(
    readonly command: string,
    readonly errorClass: string,
    readonly desc: string,
  ) {
    super(`QMP ${command} failed: ${errorClass}: ${desc}`);
  }
}

/** The QMP socket could not be reached or went away. */
export class QmpConnectionError extends FerryError {
  readonly code = 'QMP_DISCONNECTED';
  constructor(message: string, options?: { cause?: unknown; hint?: string }) {
    super(message, options);
  }
}

/** The peer said something that is not QMP (or not the QMP ferry expects). */
export class QmpProtocolError extends FerryError {
  readonly code = 'QMP_PROTOCOL';
}

/** No answer (or no awaited event) in time. */
export class QmpTimeoutError extends FerryError {
  readonly code = 'QMP_TIMEOUT';
}

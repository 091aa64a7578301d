// The emulated guest's errors. A bad spec stops the process before it starts; a QmpError is a
// command refused the way QEMU refuses it: its class and description go back to the QMP client.
import { FerryError } from '../../errors/ferry-error.ts';

/** The spec (argv or JSON file) of an emulated guest is missing or malformed. */
export class GuestSpecError extends FerryError {
  readonly code = 'GUEST_SIM_BAD_SPEC';
}

/** QEMU's error classes that the emulated guest answers with. */
export type QmpErrorClass = 'GenericError' | 'CommandNotFound' | 'DeviceNotActive';

/** A QMP command refused: becomes {"error": {"class", "desc"}} on the wire, never a crash. */
export class QmpError extends FerryError {
  readonly code = 'GUEST_SIM_QMP_REFUSED';
  constructor(
    readonly errorClass: QmpErrorClass,
    readonly desc: string,
  ) {
    super(desc);
  }
}

/** Shorthand for QEMU's most common refusal. */
export function generic(desc: string): QmpError {
  return new QmpError('GenericError', desc);
}

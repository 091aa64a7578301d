import { FerryError } from '../../errors/ferry-error.ts';

/** A service could not be provisioned or started; the message names it and the log to read. */
export class ServiceStartError extends FerryError {
  readonly code = 'STACK_START_FAILED';
}

/** The configured port answers, but not as the service ferry expects there. */
export class PortTakenError extends FerryError {
  readonly code = 'STACK_PORT_TAKEN';
}

/** A tool or package the stack needs is missing and could not be installed. */
export class ProvisionError extends FerryError {
  readonly code = 'STACK_PROVISION_FAILED';
}

/** An operation needs a process ferry started (to stop or restart it), but the service is external. */
export class NotOwnedError extends FerryError {
  readonly code = 'STACK_NOT_OWNED';
}

import { FerryError } from '../../errors/ferry-error.ts';

/** The cluster CA, a certificate or a bundle is missing, unreadable or not what it claims. */
export class PkiError extends FerryError {
  readonly code = 'PKI_INVALID';
}

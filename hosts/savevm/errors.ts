import { FerryError } from '../../errors/ferry-error.ts';

/** Every way a savevm stream can be refused; stable, because `ferry savevm inspect --json` prints them. */
export const SAVEVM_ERROR_CODES = [
  'SAVEVM_BAD_MAGIC',
  'SAVEVM_UNSUPPORTED_VERSION',
  'SAVEVM_UNKNOWN_SECTION_TYPE',
  'SAVEVM_TRUNCATED',
  'SAVEVM_BAD_FOOTER',
  'SAVEVM_LENGTH_OUT_OF_BOUNDS',
  'SAVEVM_UNKNOWN_RAM_FLAG',
  'SAVEVM_UNSUPPORTED_RAM_FLAG',
  'SAVEVM_UNKNOWN_BLOCK',
  'SAVEVM_PAGE_OUT_OF_RANGE',
  'SAVEVM_BAD_RAM_RECORD',
  'SAVEVM_UNKNOWN_SECTION',
  'SAVEVM_UNSUPPORTED_SECTION',
  'SAVEVM_BAD_CONFIGURATION',
  'SAVEVM_BAD_COMMAND',
  'SAVEVM_DEVICE_UNDELIMITED',
  'SAVEVM_BAD_DESCRIPTION',
  'SAVEVM_DESCRIPTION_MISMATCH',
  'SAVEVM_TRAILING_DATA',
] as const;
export type SavevmErrorCode = (typeof SAVEVM_ERROR_CODES)[number];

/** A stream ferry cannot read, with the byte offset where reading stopped making sense. */
export class SavevmError extends FerryError {
  readonly code: SavevmErrorCode;
  /** Offset in the stream of the byte (or the record) that is wrong. */
  readonly offset: number;
  /** The message without the offset suffix, for outputs that print the offset separately. */
  readonly detail: string;

  constructor(code: SavevmErrorCode, offset: number, message: string, options?: { hint?: string }) {
    const detail = printable(message);
    super(`${detail} (at byte ${offset})`, options);
    this.code = code;
    this.offset = offset;
    this.detail = detail;
  }
}

/**
 * Messages quote names read from the stream (RAM blocks, device ids); a damaged stream can put a
 * newline or an escape sequence there, which must not break the one-line error or the terminal.
 */
function printable(text: string): string {
  let out = '';
  for (const c of text) {
    const code = c.charCodeAt(0);
    out += code < 0x20 || code === 0x7f ? `\\x${code.toString(16).padStart(2, '0')}` : c;
  }
  return out;
}

export function isSavevmError(err: unknown): err is SavevmError {
  return err instanceof SavevmError;
}

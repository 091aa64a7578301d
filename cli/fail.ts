import { ZodError } from 'zod';
import { isFerryError } from '../errors/ferry-error.ts';

/** Prints an expected failure as one line an operator can act on, then exits non-zero. */
export function reportAndExit(err: unknown): never {
  if (isFerryError(err)) {
    process.stderr.write(`ferry: ${err.message}${err.hint ? ` — ${err.hint}` : ''}\n`);
    process.exit(2);
  }
  if (err instanceof ZodError) {
    const first = err.issues[0];
    const where = first && first.path.length > 0 ? `${first.path.join('.')}: ` : '';
    process.stderr.write(`ferry: invalid input: ${where}${first?.message ?? err.message}\n`);
    process.exit(2);
  }
  // Not an error we expected: keep the stack, it is a bug report.
  process.stderr.write(
    `ferry: internal error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`,
  );
  process.exit(70);
}

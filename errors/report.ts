// How a process (the CLI, an agent, a controller, a bench) ends on an error: one line for an expected
// failure, the stack for a bug. In errors/, the lowest layer, because every entry point uses it.
import type { ZodError } from 'zod';
import { isFerryError } from './ferry-error.ts';

/** Prints an expected failure as one line an operator can act on, then exits non-zero. */
export function reportAndExit(err: unknown): never {
  if (isFerryError(err)) {
    process.stderr.write(`ferry: ${err.message}${err.hint ? ` — ${err.hint}` : ''}\n`);
    process.exit(2);
  }
  if (isZodError(err)) {
    const first = err.issues[0];
    const where = first && first.path.length > 0 ? `${first.path.join('.')}: ` : '';
    process.stderr.write(`ferry: invalid input: ${where}${first?.message ?? err.message}\n`);
    process.exit(2);
  }
  const unreachable = unreachableService(err);
  if (unreachable) {
    process.stderr.write(
      `ferry: ${unreachable} did not answer (${(err as Error).message.split('\n')[0]}) — ` +
        'check `ferry stack status`, and that FERRY_SECURITY and the service addresses are the ones the stack runs with\n',
    );
    process.exit(2);
  }
  // Not an error we expected: keep the stack, it is a bug report.
  process.stderr.write(
    `ferry: internal error: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`,
  );
  process.exit(70);
}

/** By name, not instanceof: importing zod here would load it for `ferry --help` too. */
function isZodError(err: unknown): err is ZodError {
  return (
    err instanceof Error && err.name === 'ZodError' && Array.isArray((err as { issues?: unknown }).issues)
  );
}

/**
 * The client libraries' own "gave up reaching the service" errors, by name (importing them here
 * would load them for `ferry --help`): a service that is down, or that speaks TLS to a client that
 * does not (FERRY_SECURITY differs), is an operator's problem, not a bug.
 */
const UNREACHABLE: Record<string, string> = {
  MaxRetriesPerRequestError: 'Redis',
  KafkaJSConnectionError: 'Kafka',
  KafkaJSNumberOfRetriesExceeded: 'Kafka',
};

export function unreachableService(err: unknown): string | undefined {
  return err instanceof Error ? UNREACHABLE[err.name] : undefined;
}

// `ferry savevm inspect FILE [--json]`: reads a savevm stream file and says what is in it, or
// exactly where and why it stops making sense.
import type { Command } from 'commander';
import { z } from 'zod';
import { isSavevmError } from '../hosts/savevm/errors.ts';
import { inspectFile } from '../hosts/savevm/inspect.ts';
import { SummaryBuilder, formatSummary } from '../hosts/savevm/summary.ts';
import { reportAndExit } from '../errors/report.ts';

const inspectInput = z.object({
  file: z.string().min(1, 'FILE must be a path'),
  json: z.boolean(),
});

/** Exit codes: 0 a valid stream, 2 a stream (or file) refused, 70 a bug in ferry. */
const EXIT_REFUSED = 2;
const EXIT_INTERNAL = 70;

export function registerSavevm(program: Command): void {
  const savevm = program.command('savevm').description('QEMU migration (savevm) streams');
  savevm
    .command('inspect')
    .description('parse a savevm stream file and summarise it; --json prints one JSON object')
    .argument('<file>', 'a savevm stream, e.g. captured with migrate "exec:cat > FILE"')
    .option('--json', 'print one JSON object (the contract other tools read)', false)
    .action(async (file: unknown, opts: { json?: unknown }) => {
      const input = inspectInput.parse({ file, json: opts.json === true });
      await (input.json ? inspectJson(input.file) : inspectHuman(input.file));
    });
}

async function inspectJson(file: string): Promise<void> {
  const builder = new SummaryBuilder();
  try {
    await inspectFile(file, builder);
  } catch (err) {
    const [code, message, offset, exit] = describeFailure(err, builder.summary.bytes);
    process.stdout.write(`${JSON.stringify({ ok: false, error: { code, message, offset } })}\n`);
    process.exit(exit);
  }
  process.stdout.write(`${JSON.stringify(builder.summary)}\n`);
}

async function inspectHuman(file: string): Promise<void> {
  const builder = new SummaryBuilder();
  try {
    await inspectFile(file, builder);
  } catch (err) {
    if (isSavevmError(err)) {
      // What was read before the failure tells which phase of the migration broke.
      process.stdout.write(
        `read before the error:\n${formatSummary(file, builder.summary, builder.details).join('\n')}\n`,
      );
      const u = builder.unfinished;
      if (u) {
        process.stdout.write(
          `then inside section '${u.idstr}' from byte ${u.offset}: ${u.ram.normalPages} normal and ${u.ram.zeroPages} zero pages read\n`,
        );
      }
    }
    if (isFileError(err)) {
      process.stderr.write(`ferry: cannot read ${file}: ${err.message}\n`);
      process.exit(EXIT_REFUSED);
    }
    reportAndExit(err);
  }
  process.stdout.write(`${formatSummary(file, builder.summary, builder.details).join('\n')}\n`);
}

function describeFailure(err: unknown, bytesRead: number): [string, string, number, number] {
  if (isSavevmError(err)) return [err.code, err.detail, err.offset, EXIT_REFUSED];
  if (isFileError(err))
    return ['SAVEVM_FILE_UNREADABLE', `cannot read the file: ${err.message}`, 0, EXIT_REFUSED];
  const message = err instanceof Error ? err.message : String(err);
  return [
    'INTERNAL_ERROR',
    `ferry failed while reading (a bug): ${message.split('\n')[0]}`,
    bytesRead,
    EXIT_INTERNAL,
  ];
}

function isFileError(err: unknown): err is NodeJS.ErrnoException {
  return err instanceof Error && typeof (err as NodeJS.ErrnoException).syscall === 'string';
}

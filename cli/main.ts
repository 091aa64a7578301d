// The `ferry` command: one commander program. Only the module of the command that runs is loaded
// (cli/commands.ts); with no command, or an unknown one, the program lists them all.
import { Command, CommanderError } from 'commander';
import { COMMANDS, requestedCommand } from './commands.ts';
import { reportAndExit } from '../errors/report.ts';
import { usePrivateUmask } from '../infra/process/private-umask.ts';

const program = new Command('ferry')
  .description('Live-migrate virtual machines between hosts (libvirt migration v3 on Temporal)')
  .showHelpAfterError('(run with --help for usage)')
  .exitOverride();

// Everything this process and its children make is for this user only (0700 / 0600).
usePrivateUmask();
try {
  const entry = requestedCommand(process.argv);
  if (entry) (await entry.load())(program);
  else for (const c of COMMANDS) program.command(c.name).description(c.summary);
  await program.parseAsync(process.argv);
} catch (err) {
  if (err instanceof CommanderError) process.exit(err.exitCode);
  reportAndExit(err);
}

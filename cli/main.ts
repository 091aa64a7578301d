// The `ferry` command: one commander program, each area registering its own subcommands.
import { Command, CommanderError } from 'commander';
import { reportAndExit } from './fail.ts';
import { registerStack } from './stack.ts';
import { registerDemo } from './demo.ts';
import { registerSavevm } from './savevm.ts';
import { registerHost } from './host.ts';
import { registerGuest } from './guest.ts';
import { registerController } from './controller.ts';
import { registerMigrate } from './migrate.ts';
import { registerAudit } from './audit.ts';
import { registerEvents } from './events.ts';
import { registerCluster } from './cluster.ts';
import { registerDrill } from './drill.ts';

const program = new Command('ferry')
  .description('Live-migrate virtual machines between hosts (libvirt migration v3 on Temporal)')
  .showHelpAfterError('(run with --help for usage)')
  .exitOverride();

registerStack(program);
registerDemo(program);
registerSavevm(program);
registerHost(program);
registerGuest(program);
registerController(program);
registerMigrate(program);
registerAudit(program);
registerEvents(program);
registerCluster(program);
registerDrill(program);

try {
  await program.parseAsync(process.argv);
} catch (err) {
  if (err instanceof CommanderError) process.exit(err.exitCode);
  reportAndExit(err);
}

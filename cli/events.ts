// `ferry events tail`: the event log, readably. Filled in by the commits that follow.
import type { Command } from 'commander';

export function registerEvents(program: Command): void {
  program.command('events').description('read the event log');
}

// `ferry audit replay`: the event log as the record. Filled in by the commits that follow.
import type { Command } from 'commander';

export function registerAudit(program: Command): void {
  program.command('audit').description('check the event log against DESIGN.md invariants and the live state');
}

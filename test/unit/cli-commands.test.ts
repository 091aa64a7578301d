import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Command } from 'commander';
import { COMMANDS, requestedCommand } from '../../cli/commands.ts';

test('cli commands - the table lists every top-level command with the summary its module gives it', async () => {
  const full = new Command('ferry');
  const registers = new Set(await Promise.all(COMMANDS.map((c) => c.load())));
  for (const register of registers) register(full);
  const real = new Map(full.commands.map((c) => [c.name(), c.description()]));
  // Two entries (drain/undrain, migrate/migration) share a module; each module registers both.
  assert.deepEqual([...real.keys()].sort(), COMMANDS.map((c) => c.name).sort());
  for (const c of COMMANDS) assert.equal(c.summary, real.get(c.name), `summary of ${c.name}`);
});

test('cli commands - the command to load is the first word, options skipped, `help X` meaning X', () => {
  const argv = (...words: string[]) => ['node', 'ferry', ...words];
  assert.equal(requestedCommand(argv('stack', 'up', '--quiet'))?.name, 'stack');
  assert.equal(requestedCommand(argv('--json', 'status'))?.name, 'status');
  assert.equal(requestedCommand(argv('help', 'drain'))?.name, 'drain');
  assert.equal(requestedCommand(argv('--help')), undefined);
  assert.equal(requestedCommand(argv('nosuch')), undefined);
});

// `ferry drill` as an operator runs it: --list (text and JSON) names every drill of the catalog,
// one drill by name runs on a cluster of its own and ends in its verdict with exit 0, and bad
// input is one line and exit 2. The drills themselves are covered by drills.test.ts and the rest.
import assert from 'node:assert/strict';
import { before, test } from 'node:test';
import { buildCatalog, findDrill } from '../drills/catalog.ts';
import type { DrillResult } from '../drills/run.ts';
import { ferry } from '../lab/cli.ts';
import { realStack } from '../lab/stack.ts';

before(async () => {
  await realStack();
});

test('ferry drill --list - every drill with its description, the same in text and JSON', async () => {
  const json = await ferry('drill', '--list', '--json');
  assert.equal(json.status, 0, json.stderr);
  const listed = JSON.parse(json.stdout) as { name: string; description: string }[];
  const names = listed.map((d) => d.name);
  assert.equal(new Set(names).size, names.length, 'names are unique');
  // The catalog's own drills (the link faults join it where the host can inject them).
  for (const d of buildCatalog()) assert.ok(names.includes(d.name), `${d.name} is listed`);
  for (const d of listed) {
    assert.match(d.name, /^[a-z-]+@(begin|prepare|perform|finish|confirm)$/);
    assert.ok(d.description.length > 0, `${d.name} has a description`);
  }
  const text = await ferry('drill', '--list');
  assert.equal(text.status, 0, text.stderr);
  const lines = text.stdout.trimEnd().split('\n');
  assert.deepEqual(
    lines.map((l) => l.split(/\s+/)[0]),
    names,
    'one line per drill, in the same order',
  );
  for (const [i, l] of lines.entries()) assert.ok(l.endsWith(listed[i]!.description), l);
});

test('ferry drill - bad input is one line and exit 2', async () => {
  for (const [args, pattern] of [
    [[], /say one of: a drill NAME, --list, --matrix or --seed N/],
    [['--list', '--matrix'], /say one of/],
    [['kill-controller@begin', '--seed', '4'], /say one of/],
    [['kill-controller@lunch'], /no drill named "kill-controller@lunch" — see `ferry drill --list`/],
    [['--matrix', '--only', 'no-such-fault'], /no drill name contains "no-such-fault"/],
    [['--seed', '-3'], /seed: Too small/],
    [['--seed', 'abc'], /seed: .*expected number/],
    [['--seed', '1', '--migrations', '0'], /migrations: Too small/],
  ] as const) {
    const r = await ferry('drill', ...args);
    assert.equal(r.status, 2, `ferry drill ${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, pattern);
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
    assert.equal(r.stdout, '', 'nothing ran');
  }
});

test('ferry drill NAME --json - one drill runs on its own cluster and reports its verdict, exit 0', async () => {
  // The destination agent killed while the migration is held before Confirm: the destination
  // already runs the guest, so the protocol says it completes. About half a minute.
  const name = 'kill-destination-agent@confirm';
  const r = await ferry('drill', name, '--json');
  assert.equal(r.status, 0, `${r.stdout}\n${r.stderr}`);
  const out = JSON.parse(r.stdout) as {
    drills: number;
    passed: number;
    failed: string[];
    result: DrillResult;
  };
  assert.deepEqual([out.drills, out.passed, out.failed], [1, 1, []]);
  assert.equal(out.result.name, name);
  assert.equal(out.result.passed, true, out.result.why);
  assert.deepEqual(findDrill(buildCatalog(), name)?.expect.outcomes, ['completed']);
  assert.equal(out.result.outcome, 'completed');
  assert.match(out.result.migrationId ?? '', /^drill-/);
  assert.ok((out.result.downMs ?? 0) > 0, 'the agent was down for a while');
  // With --json the progress lines go to stderr, so stdout is only the JSON object.
  assert.match(r.stderr, new RegExp(`^PASS ${name} \\(`, 'm'));
});

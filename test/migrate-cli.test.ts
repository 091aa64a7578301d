// `ferry migrate` as an operator runs it: it starts the controller if none runs, prints one JSON
// object with --json, and refuses bad requests with one line.
// exclusive: starts and stops the operator's controller.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { realStack, uniqueName } from '../lab/stack.ts';
import { ferry } from '../lab/cli.ts';
import { assertControllerRuns, withoutController } from './support/controller.ts';

const [hostA, hostB] = [uniqueName('host'), uniqueName('host')];
const vm = uniqueName('vm');
let restoreController: (() => Promise<void>) | undefined;

before(async () => {
  await realStack();
  restoreController = await withoutController();
  for (const [h, ip] of [
    [hostA, '127.0.0.21'],
    [hostB, '127.0.0.22'],
  ] as const) {
    const r = await ferry('host', 'start', h, '--address', ip, '--memory', '512', '--detach');
    assert.equal(r.status, 0, r.stderr);
  }
  assert.equal(
    (await ferry('guest', 'start', vm, '--host', hostA, '--memory', '64', '--dirty-rate', '500')).status,
    0,
  );
});

after(async () => {
  await ferry('guest', 'kill', vm);
  for (const h of [hostA, hostB]) await ferry('host', 'stop', h);
  await restoreController?.();
});

test('ferry migrate - starts the controller when none runs; --json prints the report: completed, phases, downtime, bytes and equal digests', async () => {
  const r = await ferry('migrate', vm, '--to', hostB, '--max-downtime', '400', '--json');
  assert.equal(r.status, 0, r.stderr);
  await assertControllerRuns('ferry migrate');
  const report = JSON.parse(r.stdout) as {
    migrationId: string;
    outcome: string;
    phases: { name: string; startedAt: string; endedAt: string }[];
    downtimeMs: number;
    bytes: number;
    passes: number;
    firstError: unknown;
    digests: { source: string; destination: string };
  };
  assert.equal(report.outcome, 'completed');
  assert.deepEqual(
    report.phases.map((p) => p.name),
    ['begin', 'prepare', 'perform', 'finish', 'confirm'],
  );
  for (const p of report.phases) assert.ok(Date.parse(p.endedAt) >= Date.parse(p.startedAt));
  assert.ok(report.bytes > 0 && report.passes >= 1 && report.downtimeMs >= 0);
  assert.equal(report.firstError, null);
  assert.match(report.digests.source, /^[0-9a-f]{64}$/);
  assert.equal(report.digests.destination, report.digests.source);
  const where = await ferry('guest', 'digest', vm, '--json');
  assert.equal((JSON.parse(where.stdout) as { host: string }).host, hostB, 'the placement follows the VM');
});

test('ferry migrate - refusals are one line and a non-zero exit', async () => {
  for (const [args, pattern] of [
    [[vm, '--to', hostB], /already runs on/],
    [[uniqueName('vm'), '--to', hostA], /no guest named/],
    [[vm, '--to', 'nowhere'], /not up/],
    [[vm, '--to', hostA, '--max-downtime', '-5'], /downtime limit is at least 1 ms/],
  ] as const) {
    const r = await ferry('migrate', ...args);
    assert.equal(r.status, 2, r.stderr);
    assert.match(r.stderr, pattern);
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
  }
});

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { buildCatalog, expectationOf, findDrill } from '../../drills/catalog.ts';
import { DRILL_PHASES, type Fault } from '../../drills/fault.ts';
import { checkOutcome } from '../../drills/verdict.ts';
import { schedule } from '../../drills/seed.ts';
import type { MigrationReport } from '../../protocol/migration.ts';

test('drill catalog - every fault at each of the five phases, two agents never restarted, names unique', () => {
  const catalog = buildCatalog();
  const names = catalog.map((d) => d.name);
  assert.equal(new Set(names).size, names.length);
  for (const fault of ['kill-source-agent', 'kill-destination-agent', 'kill-controller']) {
    for (const p of DRILL_PHASES) assert.ok(names.includes(`${fault}@${p}`), `${fault}@${p}`);
  }
  for (const svc of ['temporal', 'kafka', 'redis']) {
    for (const p of DRILL_PHASES) assert.ok(names.includes(`restart-${svc}@${p}`), `restart-${svc}@${p}`);
  }
  assert.equal(findDrill(catalog, 'kill-source-agent-never@perform')?.never, 'source');
  assert.equal(findDrill(catalog, 'kill-destination-agent-never@perform')?.never, 'destination');
  const never = findDrill(catalog, 'kill-source-agent-never@perform')!.fault;
  assert.equal(Object.hasOwn(never, 'heal'), false, 'an agent never restarted has no heal');
});

test('drill catalog - faults passed in join the catalog at every phase', () => {
  const extra: Fault = { name: 'cut-stream', description: 'cut', inject: () => Promise.resolve() };
  const names = buildCatalog([extra]).map((d) => d.name);
  for (const p of DRILL_PHASES) assert.ok(names.includes(`cut-stream@${p}`));
});

test('drill expectations - a lost controller completes, an agent lost in Perform rolls back at Perform, Redis and Kafka restarts only delay', () => {
  assert.deepEqual(expectationOf('kill-controller', 'prepare').outcomes, ['completed']);
  assert.deepEqual(expectationOf('kill-source-agent', 'perform'), {
    outcomes: ['rolled-back'],
    errorPhases: ['perform'],
  });
  assert.deepEqual(expectationOf('restart-temporal', 'finish').errorPhases, ['finish', 'confirm']);
  assert.deepEqual(expectationOf('restart-redis', 'perform').outcomes, ['completed']);
  assert.deepEqual(expectationOf('restart-kafka', 'begin').outcomes, ['completed']);
});

const report = (over: Partial<MigrationReport>): MigrationReport => ({
  migrationId: 'm',
  vm: 'vm',
  source: 'a',
  destination: 'b',
  outcome: 'completed',
  runsOn: 'b',
  phases: [],
  downtimeMs: null,
  bytes: null,
  passes: null,
  totalTimeMs: null,
  firstError: null,
  aborted: false,
  digests: { source: 'x', destination: 'x' },
  ...over,
});

test('drill verdict - failed never passes; a rollback needs its first error at or after the fault', () => {
  const drill = findDrill(buildCatalog(), 'restart-temporal@finish')!;
  assert.equal(checkOutcome(drill, report({})), undefined);
  assert.match(checkOutcome(drill, report({ outcome: 'failed' })) ?? '', /ended failed/);
  assert.match(checkOutcome(drill, report({ outcome: 'rolled-back' })) ?? '', /without its first error/);
  const early = { phase: 'prepare' as const, host: 'b', vm: 'vm', type: 'X', message: 'boom' };
  assert.match(
    checkOutcome(drill, report({ outcome: 'rolled-back', firstError: early })) ?? '',
    /at prepare/,
  );
  const atFinish = { ...early, phase: 'finish' as const };
  assert.equal(checkOutcome(drill, report({ outcome: 'rolled-back', firstError: atFinish })), undefined);
});

test('drill seed - the same seed gives the same schedule, another seed another', () => {
  const names = (seed: number) => schedule(seed, 20).map((d) => d.name);
  assert.deepEqual(names(42), names(42));
  assert.notDeepEqual(names(42), names(43));
  for (const d of schedule(7, 50)) {
    assert.ok(DRILL_PHASES.includes(d.phase));
    assert.ok(d.performAtBytes >= 1024 * 1024 && d.performAtBytes <= 16 * 1024 * 1024);
  }
});

test('drill verdict - a controller lost for less than the autokill TTL must complete; lost for longer, it may roll back', () => {
  const drill = findDrill(buildCatalog(), 'kill-controller@perform')!;
  const autokilled = {
    phase: 'finish' as const,
    host: 'b',
    vm: 'vm',
    type: 'X',
    message: 'no incoming migration',
  };
  const rolledBack = report({ outcome: 'rolled-back', firstError: autokilled });
  assert.match(checkOutcome(drill, rolledBack) ?? '', /expected completed/);
  assert.equal(checkOutcome(drill, rolledBack, true), undefined);
  assert.match(checkOutcome(drill, report({ outcome: 'failed' }), true) ?? '', /ended failed/);
});

import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  ASYNC_JOBS,
  MIGRATION_PHASES,
  PHASES_OF,
  allowedNext,
  allowedPrevious,
  mayMoveTo,
} from '../../infra/redis/job-phases.ts';

test('job phases - the source moves Begin, Perform, Perform done, Confirm, and may cancel before Confirm', () => {
  assert.deepEqual(allowedNext('MIGRATION_OUT', 'begin3'), ['perform3', 'confirm3_cancelled']);
  assert.deepEqual(allowedNext('MIGRATION_OUT', 'perform3'), ['perform3_done', 'confirm3_cancelled']);
  assert.deepEqual(allowedNext('MIGRATION_OUT', 'perform3_done'), ['confirm3', 'confirm3_cancelled']);
  assert.deepEqual(allowedNext('MIGRATION_OUT', 'confirm3'), []);
  assert.deepEqual(allowedNext('MIGRATION_OUT', 'confirm3_cancelled'), []);
  assert.equal(mayMoveTo('MIGRATION_OUT', 'begin3', 'confirm3'), false, 'Confirm needs a Perform');
});

test('job phases - the destination moves Prepare then Finish', () => {
  assert.deepEqual(allowedNext('MIGRATION_IN', 'prepare'), ['finish3']);
  assert.deepEqual(allowedNext('MIGRATION_IN', 'finish3'), []);
});

test('job phases - the protocol never goes backwards', () => {
  for (const job of ASYNC_JOBS) {
    const order = PHASES_OF[job];
    for (const from of order) {
      for (const to of allowedNext(job, from)) {
        assert.ok(order.indexOf(to) > order.indexOf(from), `${job}: ${from} -> ${to} moves forward`);
      }
    }
  }
  assert.equal(mayMoveTo('MIGRATION_OUT', 'perform3_done', 'perform3'), false);
  assert.equal(mayMoveTo('MIGRATION_OUT', 'confirm3_cancelled', 'confirm3'), false);
  assert.equal(mayMoveTo('MIGRATION_IN', 'finish3', 'prepare'), false);
});

test('job phases - setting the same phase again is allowed (an idempotent retry)', () => {
  for (const job of ASYNC_JOBS) {
    for (const phase of PHASES_OF[job]) assert.ok(mayMoveTo(job, phase, phase), `${job} ${phase}`);
  }
});

test('job phases - a job never enters the other side phases', () => {
  assert.deepEqual(allowedNext('MIGRATION_IN', 'begin3'), []);
  assert.deepEqual(allowedNext('MIGRATION_OUT', 'prepare'), []);
  assert.equal(mayMoveTo('MIGRATION_IN', 'prepare', 'perform3'), false);
  assert.equal(mayMoveTo('MIGRATION_OUT', 'finish3', 'finish3'), false);
  const all = new Set([...PHASES_OF.MIGRATION_OUT, ...PHASES_OF.MIGRATION_IN]);
  assert.deepEqual([...all].sort(), [...MIGRATION_PHASES].sort(), 'every phase belongs to exactly one job');
  assert.equal(all.size, PHASES_OF.MIGRATION_OUT.length + PHASES_OF.MIGRATION_IN.length);
});

test('job phases - allowedPrevious inverts the table, the phase itself included', () => {
  assert.deepEqual(allowedPrevious('MIGRATION_OUT', 'confirm3_cancelled'), [
    'begin3',
    'perform3',
    'perform3_done',
    'confirm3_cancelled',
  ]);
  assert.deepEqual(allowedPrevious('MIGRATION_OUT', 'confirm3'), ['perform3_done', 'confirm3']);
  assert.deepEqual(allowedPrevious('MIGRATION_OUT', 'begin3'), ['begin3']);
  assert.deepEqual(allowedPrevious('MIGRATION_IN', 'finish3'), ['prepare', 'finish3']);
  assert.deepEqual(allowedPrevious('MIGRATION_IN', 'perform3'), []);
});

// Aborting the migrate workflow (cancelling it: `ferry migration abort`, Ctrl-C in `ferry migrate`)
// in each phase, with fake activities (migrate-workflow-harness.ts). Before Finish an abort rolls
// back, and the compensation runs in a non-cancellable scope so the abort cannot cancel its own
// clean-up; from Finish on it is only noted. Held phases (holdBefore) give exact abort points.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { Context } from '@temporalio/activity';
import { progress, resume } from '../../workflows/migration/messages.ts';
import {
  call,
  latch,
  phases,
  refusal,
  runMigration,
  startMigrateEnv,
  untilCancelled,
  waitForState,
  type MigrateEnv,
  type Ran,
} from './migrate-workflow-harness.ts';

let env: MigrateEnv;
before(async () => {
  env = await startMigrateEnv();
});
after(async () => {
  await env?.teardown();
});

function assertAborted(ran: Ran, phase: string, message: string): void {
  assert.ok(ran.report, `the workflow failed: ${String(ran.failure)}`);
  assert.equal(ran.report.outcome, 'rolled-back');
  assert.equal(ran.report.runsOn, ran.source);
  assert.equal(ran.report.aborted, true);
  assert.deepEqual(
    { phase: ran.report.firstError?.phase, type: ran.report.firstError?.type },
    { phase, type: 'Aborted' },
  );
  assert.equal(ran.report.firstError?.message, message);
  assert.deepEqual(ran.ended.at(-1), ran.report);
}

/** A Finish (normal or cancelled) that runs until `done` opens, beating, and says if it was cancelled. */
function slowFinish(done: Promise<void>) {
  return async (i: { migrationId: string; cancelled: boolean }) => {
    const ctx = Context.current();
    const beat = setInterval(() => ctx.heartbeat(), 50);
    try {
      await done;
    } finally {
      clearInterval(beat);
    }
    if (ctx.cancellationSignal.aborted) throw new Error('Finish was cancelled');
    return i.cancelled
      ? { cookie: '', digest: null }
      : { cookie: `finish:${i.migrationId}`, digest: 'a'.repeat(64) };
  };
}

describe('migrate workflow', () => {
  test('migrate workflow - aborted while held before Begin: nothing ran, nothing to undo', async () => {
    const ran = await runMigration(env, {
      input: { holdBefore: ['begin'] },
      async drive(m) {
        await waitForState(m, 'held');
        const view = await m.handle.query(progress);
        assert.deepEqual([view.phase, view.abortRequested], [null, false]);
        await m.handle.cancel();
      },
    });
    assertAborted(ran, 'begin', 'aborted by the operator before begin');
    assert.deepEqual(ran.scheduled, []);
    assert.deepEqual(phases(ran.report), []);
  });

  test('migrate workflow - aborted while Begin runs: Begin cancelled, Confirm cancelled ends its job', async () => {
    const ran = await runMigration(env, {
      fakes: { srcBegin: () => untilCancelled() },
      async drive(m) {
        await m.started('srcBegin');
        await m.handle.cancel();
      },
    });
    assertAborted(ran, 'begin', 'aborted by the operator during begin');
    assert.deepEqual(ran.commands, ['schedule srcBegin', 'cancel srcBegin', 'schedule srcConfirm:cancelled']);
    assert.deepEqual(phases(ran.report), ['begin:normal:failed', 'confirm:cancelled:ok']);
  });

  test('migrate workflow - aborted while held before Prepare: only Confirm cancelled, no keepalive, no destination', async () => {
    const ran = await runMigration(env, {
      input: { holdBefore: ['prepare'] },
      async drive(m) {
        await waitForState(m, 'held');
        assert.equal((await m.handle.query(progress)).phase, 'begin');
        await m.handle.cancel();
      },
    });
    assertAborted(ran, 'begin', 'aborted by the operator after begin');
    assert.deepEqual(ran.scheduled, ['srcBegin', 'srcConfirm:cancelled']);
  });

  test('migrate workflow - aborted while Prepare runs: the compensation the abort starts is not cancelled by it', async () => {
    const ran = await runMigration(env, {
      fakes: { dstPrepare: () => untilCancelled() },
      async drive(m) {
        await m.started('dstPrepare');
        await m.handle.cancel();
      },
    });
    assertAborted(ran, 'prepare', 'aborted by the operator during prepare');
    assert.deepEqual(ran.commands, [
      'schedule srcBegin',
      'schedule keepAutokill',
      'schedule dstPrepare',
      'cancel dstPrepare',
      'schedule dstFinish:cancelled',
      'cancel keepAutokill',
      'schedule srcConfirm:cancelled',
    ]);
    assert.equal(call(ran, 'dstFinish:cancelled').ended, 'ok');
    assert.equal(call(ran, 'srcConfirm:cancelled').ended, 'ok');
  });

  test('migrate workflow - aborted while held before Perform: Finish cancelled kills the incoming guest, the source resumes', async () => {
    const ran = await runMigration(env, {
      input: { holdBefore: ['perform'] },
      async drive(m) {
        await waitForState(m, 'held');
        assert.equal((await m.handle.query(progress)).phase, 'prepare');
        await m.handle.cancel();
      },
    });
    assertAborted(ran, 'prepare', 'aborted by the operator after prepare');
    assert.deepEqual(ran.scheduled, [
      'srcBegin',
      'keepAutokill',
      'dstPrepare',
      'dstFinish:cancelled',
      'srcConfirm:cancelled',
    ]);
  });

  test('migrate workflow - aborted while Perform runs: compensation waits until the source has cancelled the transfer', async () => {
    const ran = await runMigration(env, {
      fakes: { srcPerform: () => untilCancelled() },
      async drive(m) {
        await m.started('srcPerform');
        await m.handle.cancel();
      },
    });
    assertAborted(ran, 'perform', 'aborted by the operator during perform');
    const at = (a: string) => ran.activities.indexOf(a);
    assert.ok(at('cancel srcPerform') >= 0, ran.activities.join(', '));
    assert.ok(at('cancelled srcPerform') < at('schedule dstFinish:cancelled'), ran.activities.join(', '));
    assert.deepEqual(phases(ran.report).slice(2), [
      'perform:normal:failed',
      'finish:cancelled:ok',
      'confirm:cancelled:ok',
    ]);
    assert.equal(ran.report?.digests.source, null);
  });

  test('migrate workflow - aborted while held before Finish: rolled back though Perform completed (the last moment an abort does)', async () => {
    const ran = await runMigration(env, {
      input: { holdBefore: ['finish'] },
      async drive(m) {
        await waitForState(m, 'held');
        const view = await m.handle.query(progress);
        assert.deepEqual([view.phase, view.transfer?.status], ['perform', 'completed']);
        await m.handle.cancel();
      },
    });
    assertAborted(ran, 'perform', 'aborted by the operator after perform');
    assert.deepEqual(ran.scheduled.slice(3), ['srcPerform', 'dstFinish:cancelled', 'srcConfirm:cancelled']);
    // Perform's figures stay in the report; the guest never ran on the destination.
    assert.deepEqual(ran.report?.digests, { source: 'a'.repeat(64), destination: null });
    assert.equal(ran.report?.downtimeMs, 40);
    assert.equal(call(ran, 'srcConfirm:cancelled').input.lockstate, undefined);
  });

  test('migrate workflow - aborted while Finish runs: past the point of no return, completed and the abort only noted', async () => {
    const finishing = latch();
    const ran = await runMigration(env, {
      fakes: { dstFinish: slowFinish(finishing.promise) },
      async drive(m) {
        await m.started('dstFinish');
        await m.abort();
        finishing.open();
      },
    });
    assert.equal(ran.report?.outcome, 'completed', String(ran.failure));
    assert.equal(ran.report?.runsOn, ran.destination);
    assert.equal(ran.report?.aborted, true);
    assert.equal(ran.report?.firstError, null);
    assert.ok(!ran.commands.includes('cancel dstFinish'), ran.commands.join(', '));
    assert.equal(call(ran, 'dstFinish').ended, 'ok');
    assert.deepEqual(ran.scheduled.slice(-2), ['dstFinish', 'srcConfirm']);
  });

  test('migrate workflow - aborted while held before Confirm: the hold waits for resume, then Confirm completes it', async () => {
    const ran = await runMigration(env, {
      input: { holdBefore: ['confirm'] },
      async drive(m) {
        await waitForState(m, 'held');
        assert.equal((await m.handle.query(progress)).phase, 'finish');
        await m.abort();
        // The abort neither releases the hold nor rolls back: still held.
        assert.equal((await m.handle.query(progress)).state, 'held');
        await m.handle.signal(resume);
      },
    });
    assert.equal(ran.report?.outcome, 'completed', String(ran.failure));
    assert.equal(ran.report?.aborted, true);
    assert.deepEqual(ran.scheduled.slice(-2), ['dstFinish', 'srcConfirm']);
    assert.ok(!ran.scheduled.includes('srcConfirm:cancelled'));
  });

  test("migrate workflow - aborted during compensation: the cancelled Finish is not cancelled, the first error stays Prepare's", async () => {
    const compensating = latch();
    const ran = await runMigration(env, {
      fakes: {
        dstPrepare: () => Promise.reject(refusal('CapacityShort', 'no room')),
        dstFinish: slowFinish(compensating.promise),
      },
      async drive(m) {
        await m.started('dstFinish:cancelled');
        await waitForState(m, 'compensating');
        await m.abort();
        compensating.open();
      },
    });
    assert.equal(ran.report?.outcome, 'rolled-back', String(ran.failure));
    assert.equal(ran.report?.runsOn, ran.source);
    assert.equal(ran.report?.aborted, true);
    assert.equal(ran.report?.firstError?.type, 'CapacityShort');
    assert.ok(!ran.commands.includes('cancel dstFinish:cancelled'), ran.commands.join(', '));
    assert.equal(call(ran, 'dstFinish:cancelled').ended, 'ok');
    assert.equal(call(ran, 'srcConfirm:cancelled').ended, 'ok');
  });
});

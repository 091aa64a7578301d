// The migrate workflow past its point of no return, with fake activities
// (migrate-workflow-harness.ts). Finish is retried until it lands; a Finish that fails (its guest
// killed) or never reaches the destination makes the source resume, with the disk lockstate Finish
// handed back if it released any. Once Finish resumed the guest, the source is never resumed again:
// Confirm only kills the paused source copy, retried until done; a refused Confirm leaves the
// migration completed, with its refusal as the error.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { resume } from '../../workflows/migration/messages.ts';
import {
  call,
  phases,
  refusal,
  runMigration,
  SOURCE_DIGEST,
  startMigrateEnv,
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

/** Fails once, retryably (the agent restarted mid-phase), then answers as `then` does. */
function failingOnce<I, O>(then: (i: I) => Promise<O>): (i: I) => Promise<O> {
  let failed = false;
  return (i) => {
    if (failed) return then(i);
    failed = true;
    return Promise.reject(new Error('agent restarted'));
  };
}

function assertRolledBackAtFinish(ran: Ran, type: string): void {
  assert.ok(ran.report, `the workflow failed: ${String(ran.failure)}`);
  assert.equal(ran.report.outcome, 'rolled-back');
  assert.equal(ran.report.runsOn, ran.source);
  assert.deepEqual(
    {
      phase: ran.report.firstError?.phase,
      host: ran.report.firstError?.host,
      type: ran.report.firstError?.type,
    },
    { phase: 'finish', host: ran.destination, type },
  );
  assert.deepEqual(phases(ran.report).slice(3), ['finish:normal:failed', 'confirm:cancelled:ok']);
  // The keepalive stops as the source is told to resume (one workflow task), not before Finish ended.
  assert.deepEqual(ran.commands.slice(-3), [
    'schedule dstFinish',
    'schedule srcConfirm:cancelled',
    'cancel keepAutokill',
  ]);
  assert.deepEqual(ran.report.digests, { source: SOURCE_DIGEST, destination: null });
  assert.deepEqual(ran.ended.at(-1), ran.report);
}

describe('migrate workflow', () => {
  test('migrate workflow - Finish refuses the memory: its guest killed, the source resumes with the lockstate it kept', async () => {
    const ran = await runMigration(env, {
      fakes: {
        dstFinish: () =>
          Promise.reject(refusal('MemoryMismatch', 'digest differs from the source at the stop')),
      },
    });
    assertRolledBackAtFinish(ran, 'MemoryMismatch');
    assert.equal(call(ran, 'srcConfirm:cancelled').input.lockstate, undefined);
    assert.equal(ran.calls.filter((c) => c.name === 'dstFinish').length, 1, 'a refusal is not retried');
  });

  test('migrate workflow - Finish fails after taking the disks: the source resumes with the lockstate Finish handed back', async () => {
    const handedBack = [{ disk: 'disk0', generation: 7 }];
    const ran = await runMigration(env, {
      fakes: {
        dstFinish: () =>
          Promise.reject(refusal('ResumeFailed', 'could not resume: cont failed', { lockstate: handedBack })),
      },
    });
    assertRolledBackAtFinish(ran, 'ResumeFailed');
    assert.deepEqual(call(ran, 'srcConfirm:cancelled').input, {
      migrationId: ran.migrationId,
      vm: ran.report?.vm,
      destination: ran.destination,
      cookie: null,
      cancelled: true,
      lockstate: handedBack,
    });
  });

  test('migrate workflow - the destination gone after Perform: Finish waits its pickup time, then the source resumes', async () => {
    const ran = await runMigration(env, {
      // Finish waits max(pickup, 4 autokill TTLs) = 800 ms for a destination agent.
      input: { holdBefore: ['finish'], hostPickupTimeoutMs: 300, autokillTtlMs: 200 },
      async drive(m) {
        await waitForState(m, 'held');
        await m.stopDestination();
        await m.handle.signal(resume);
      },
    });
    assertRolledBackAtFinish(ran, 'HostUnavailable');
    assert.equal(ran.calls.filter((c) => c.name === 'dstFinish').length, 0);
  });

  test('migrate workflow - Finish retried after a failure that may pass: completed, the same cookie both times', async () => {
    const ran = await runMigration(env, {
      fakes: {
        dstFinish: failingOnce((i) =>
          Promise.resolve({ cookie: `finish:${i.migrationId}`, digest: SOURCE_DIGEST }),
        ),
      },
    });
    assert.equal(ran.report?.outcome, 'completed', String(ran.failure));
    assert.equal(ran.report?.firstError, null);
    const finishes = ran.calls.filter((c) => c.name === 'dstFinish');
    assert.deepEqual(
      finishes.map((c) => [c.ended, c.input.cookie]),
      [
        ['failed Error', `perform:${ran.migrationId}`],
        ['ok', `perform:${ran.migrationId}`],
      ],
    );
    assert.deepEqual(ran.scheduled.slice(-2), ['dstFinish', 'srcConfirm']);
  });

  test('migrate workflow - Confirm retried after a failure that may pass: completed, the source never resumed', async () => {
    const ran = await runMigration(env, {
      fakes: { srcConfirm: failingOnce(() => Promise.resolve({ action: 'killed' as const })) },
    });
    assert.equal(ran.report?.outcome, 'completed', String(ran.failure));
    assert.equal(ran.report?.runsOn, ran.destination);
    assert.deepEqual(
      ran.calls.filter((c) => c.name.startsWith('srcConfirm')).map((c) => [c.name, c.ended]),
      [
        ['srcConfirm', 'failed Error'],
        ['srcConfirm', 'ok'],
      ],
    );
    assert.deepEqual(ran.ended.at(-1), ran.report);
  });

  test("migrate workflow - Confirm refused after Finish resumed the guest: completed on the destination with Confirm's error kept, the source never resumed", async () => {
    const ran = await runMigration(env, {
      fakes: {
        srcConfirm: () => Promise.reject(refusal('CookieRefused', 'the Finish cookie does not verify')),
      },
    });
    assert.ok(ran.report, `the workflow failed: ${String(ran.failure)}`);
    assert.equal(ran.report.outcome, 'completed');
    assert.equal(ran.report.runsOn, ran.destination);
    assert.deepEqual(
      {
        phase: ran.report.firstError?.phase,
        host: ran.report.firstError?.host,
        type: ran.report.firstError?.type,
      },
      { phase: 'confirm', host: ran.source, type: 'CookieRefused' },
    );
    assert.match(String(ran.report.firstError?.message), /Finish cookie does not verify/);
    assert.deepEqual(ran.scheduled.slice(-2), ['dstFinish', 'srcConfirm']);
    assert.ok(!ran.scheduled.includes('srcConfirm:cancelled'), 'the source is never resumed');
    // A local activity runs again when its workflow task is retried (a completion the server
    // refused because an event arrived meanwhile), so the report is the last record, as above.
    assert.ok(ran.ended.length > 0, 'migration.ended is recorded');
    assert.deepEqual(ran.ended.at(-1), ran.report, 'migration.ended is recorded with the report');
  });
});

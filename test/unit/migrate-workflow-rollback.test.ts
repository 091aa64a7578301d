// The migrate workflow's rollbacks before the point of no return, with fake activities on a dev
// server of its own (migrate-workflow-harness.ts): a failure at Begin, Prepare or Perform runs
// Finish cancelled (only if Prepare may have made an incoming guest) and Confirm cancelled (only if
// Begin may have taken the job), newest first, and keeps the first error whatever compensation does.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { Context } from '@temporalio/activity';
import { reportTransfer, setMaxDowntime } from '../../workflows/migration/messages.ts';
import { cancelledFinishGiveUpMs } from '../../protocol/migration.ts';
import {
  call,
  latch,
  phases,
  refusal,
  runMigration,
  startMigrateEnv,
  untilCancelled,
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

/** The controller's migration.ended event carries the report the workflow returned. */
function assertEnded(ran: Ran): void {
  assert.ok(ran.report, `the workflow failed: ${String(ran.failure)}`);
  assert.ok(ran.ended.length >= 1, 'no migration.ended event');
  assert.deepEqual(ran.ended.at(-1), ran.report);
}

// The give-up test waits ~8 s of real time (the dev server does not skip time): it runs first, beside
// the others one after another (each migration has its own hosts and fakes), which hides it.
describe('migrate workflow', { concurrency: 2 }, () => {
  test(
    'migrate workflow - a cancelled Finish that keeps failing gives up within cancelledFinishGiveUpMs, then the source resumes',
    { timeout: 30_000 },
    async () => {
      const autokillTtlMs = 1000;
      const ran = await runMigration(env, {
        input: { autokillTtlMs },
        fakes: {
          srcPerform: () => Promise.reject(refusal('MigrationFailed', 'stream cut')),
          // Retryable: the destination does not answer.
          dstFinish: () => Promise.reject(new Error('connection refused')),
        },
      });
      assertEnded(ran);
      const finish = ran.report?.phases.find((p) => p.name === 'finish');
      assert.equal(finish?.result, 'failed');
      // Retried after 1, 2 and 4 s; the next retry would land past the give-up, so Temporal ends it
      // there with the last attempt's error (a Finish retried for ever would time the test out). A
      // fourth attempt is dropped only if each dispatch took over a second.
      const tried = Date.parse(String(finish?.endedAt)) - Date.parse(String(finish?.startedAt));
      assert.ok(tried <= cancelledFinishGiveUpMs(autokillTtlMs), `gave up after ${tried} ms`);
      const attempts = ran.calls.filter((c) => c.name === 'dstFinish:cancelled').length;
      assert.ok(attempts === 3 || attempts === 4, `${attempts} attempts`);
      assert.equal(call(ran, 'srcConfirm:cancelled').ended, 'ok');
      assert.equal(ran.report?.outcome, 'rolled-back');
      assert.equal(ran.report?.firstError?.type, 'MigrationFailed');
      assert.ok(ran.warnings().some((w) => w.startsWith('cancelled Finish did not reach the destination')));
    },
  );

  test('migrate workflow - all five phases succeed: completed on the destination, the keepalive from before Prepare to Finish', async () => {
    const ran = await runMigration(env);
    assertEnded(ran);
    assert.equal(ran.report?.outcome, 'completed');
    assert.equal(ran.report?.runsOn, ran.destination);
    assert.deepEqual(ran.scheduled, [
      'srcBegin',
      'keepAutokill',
      'dstPrepare',
      'srcPerform',
      'dstFinish',
      'srcConfirm',
    ]);
    assert.deepEqual(phases(ran.report), [
      'begin:normal:ok',
      'prepare:normal:ok',
      'perform:normal:ok',
      'finish:normal:ok',
      'confirm:normal:ok',
    ]);
    assert.equal(ran.report?.firstError, null);
    assert.equal(ran.report?.aborted, false);
    assert.deepEqual(ran.report?.digests, { source: 'a'.repeat(64), destination: 'a'.repeat(64) });
    // Each phase carries the cookie of the one before it.
    assert.equal(call(ran, 'dstPrepare').input.cookie, `begin:${ran.migrationId}`);
    assert.equal(call(ran, 'srcPerform').input.cookie, `prepare:${ran.migrationId}`);
    assert.equal(call(ran, 'dstFinish').input.cookie, `perform:${ran.migrationId}`);
    assert.equal(call(ran, 'srcConfirm').input.cookie, `finish:${ran.migrationId}`);
    // The keepalive is stopped once Finish took the lease, before Confirm.
    assert.deepEqual(ran.commands.slice(-3), [
      'schedule dstFinish',
      'cancel keepAutokill',
      'schedule srcConfirm',
    ]);
    assert.equal(call(ran, 'keepAutokill').ended, 'cancelled');
  });

  test('migrate workflow - Begin refused: only Confirm cancelled runs, and the report says nothing of where the VM runs', async () => {
    const ran = await runMigration(env, {
      fakes: {
        srcBegin: () =>
          Promise.reject(refusal('NotMigratable', 'vm is shutoff; only a running guest migrates')),
      },
    });
    assertEnded(ran);
    assert.deepEqual(ran.scheduled, ['srcBegin', 'srcConfirm:cancelled']);
    assert.deepEqual(phases(ran.report), ['begin:normal:failed', 'confirm:cancelled:ok']);
    assert.equal(ran.report?.outcome, 'rolled-back');
    assert.equal(ran.report?.runsOn, null);
    assert.deepEqual(
      { ...ran.report?.firstError, message: undefined },
      { phase: 'begin', host: ran.source, vm: ran.report?.vm, type: 'NotMigratable', message: undefined },
    );
    assert.match(ran.report?.firstError?.message ?? '', /only a running guest migrates/);
    const confirm = call(ran, 'srcConfirm:cancelled');
    assert.equal(confirm.input.cookie, null);
    assert.equal(confirm.input.lockstate, undefined);
  });

  test('migrate workflow - the source never picks Begin up: rolled back with nothing to undo, the VM where it was', async () => {
    const ran = await runMigration(env, { down: ['source'], input: { hostPickupTimeoutMs: 300 } });
    assertEnded(ran);
    assert.deepEqual(ran.scheduled, ['srcBegin']);
    assert.deepEqual(phases(ran.report), ['begin:normal:failed']);
    assert.equal(ran.report?.outcome, 'rolled-back');
    assert.equal(ran.report?.runsOn, ran.source);
    assert.equal(ran.report?.firstError?.type, 'HostUnavailable');
    assert.equal(ran.report?.firstError?.phase, 'begin');
  });

  test('migrate workflow - Prepare refused: Finish cancelled, then Confirm cancelled, the keepalive stopped', async () => {
    const ran = await runMigration(env, {
      fakes: { dstPrepare: () => Promise.reject(refusal('CapacityShort', 'dst has 64 MiB free, needs 512')) },
    });
    assertEnded(ran);
    assert.deepEqual(ran.scheduled, [
      'srcBegin',
      'keepAutokill',
      'dstPrepare',
      'dstFinish:cancelled',
      'srcConfirm:cancelled',
    ]);
    assert.deepEqual(phases(ran.report), [
      'begin:normal:ok',
      'prepare:normal:failed',
      'finish:cancelled:ok',
      'confirm:cancelled:ok',
    ]);
    assert.equal(ran.report?.outcome, 'rolled-back');
    assert.equal(ran.report?.runsOn, ran.source);
    assert.equal(ran.report?.firstError?.type, 'CapacityShort');
    assert.equal(ran.report?.firstError?.host, ran.destination);
    assert.deepEqual(call(ran, 'dstFinish:cancelled').input, {
      migrationId: ran.migrationId,
      vm: ran.report?.vm,
      source: ran.source,
      cookie: null,
      cancelled: true,
    });
    assert.ok(call(ran, 'dstFinish:cancelled').endedAt! <= call(ran, 'srcConfirm:cancelled').startedAt);
    // The keepalive stops as the incoming guest is killed (one workflow task): no lease outlives it.
    assert.deepEqual(ran.commands.slice(-3), [
      'schedule dstFinish:cancelled',
      'cancel keepAutokill',
      'schedule srcConfirm:cancelled',
    ]);
    assert.equal(call(ran, 'keepAutokill').ended, 'cancelled');
  });

  test('migrate workflow - the destination never picks Prepare up: no Finish cancelled (no incoming guest), Confirm cancelled', async () => {
    const ran = await runMigration(env, { down: ['destination'], input: { hostPickupTimeoutMs: 300 } });
    assertEnded(ran);
    assert.deepEqual(ran.scheduled, ['srcBegin', 'keepAutokill', 'dstPrepare', 'srcConfirm:cancelled']);
    assert.deepEqual(phases(ran.report), [
      'begin:normal:ok',
      'prepare:normal:failed',
      'confirm:cancelled:ok',
    ]);
    assert.equal(ran.report?.outcome, 'rolled-back');
    assert.equal(ran.report?.runsOn, ran.source);
    assert.equal(ran.report?.firstError?.type, 'HostUnavailable');
    assert.equal(ran.report?.firstError?.phase, 'prepare');
  });

  test('migrate workflow - Perform fails mid-transfer: rolled back, the report keeps the transfer reported so far', async () => {
    const ran = await runMigration(env, {
      fakes: {
        srcPerform: async (i) => {
          await env.env.client.workflow.getHandle(i.migrationId).signal(reportTransfer, {
            status: 'active',
            transferred: 4096,
            remaining: 8192,
            passes: 2,
            expectedDowntimeMs: 90,
          });
          throw refusal('MigrationFailed', 'QEMU: migration failed: connection reset');
        },
      },
    });
    assertEnded(ran);
    assert.deepEqual(ran.scheduled.slice(3), ['srcPerform', 'dstFinish:cancelled', 'srcConfirm:cancelled']);
    assert.deepEqual(phases(ran.report).slice(2), [
      'perform:normal:failed',
      'finish:cancelled:ok',
      'confirm:cancelled:ok',
    ]);
    assert.equal(ran.report?.outcome, 'rolled-back');
    assert.equal(ran.report?.runsOn, ran.source);
    assert.equal(ran.report?.firstError?.type, 'MigrationFailed');
    assert.deepEqual([ran.report?.bytes, ran.report?.passes], [4096, 2]);
    assert.deepEqual([ran.report?.downtimeMs, ran.report?.digests.source], [null, null]);
    // The source resumes with the lockstate it kept itself: the workflow hands none back.
    assert.equal(call(ran, 'srcConfirm:cancelled').input.lockstate, undefined);
  });

  test('migrate workflow - a source that stops heartbeating in Perform counts as gone: Timeout, rolled back', async () => {
    const ran = await runMigration(env, {
      input: { heartbeatTimeoutMs: 1000 },
      // Never beats: sleeps until its worker shuts down at the end of the test.
      fakes: {
        srcPerform: () =>
          Context.current()
            .sleep(60_000)
            .then(() => assert.fail('not cancelled')),
      },
    });
    assertEnded(ran);
    assert.deepEqual(ran.scheduled.slice(3), ['srcPerform', 'dstFinish:cancelled', 'srcConfirm:cancelled']);
    assert.equal(ran.report?.outcome, 'rolled-back');
    assert.equal(ran.report?.firstError?.type, 'Timeout');
    assert.match(ran.report?.firstError?.message ?? '', /heartbeat/);
  });

  test('migrate workflow - Perform past its completion timeout is cancelled, and compensation waits for the source to stop', async () => {
    const ran = await runMigration(env, {
      // 512 MiB counts as 1 GiB: 300 ms to complete.
      input: { completionTimeoutPerGiBMs: 300, heartbeatTimeoutMs: 5000 },
      fakes: { srcPerform: () => untilCancelled() },
    });
    assertEnded(ran);
    assert.equal(ran.report?.outcome, 'rolled-back');
    assert.equal(ran.report?.firstError?.type, 'CompletionTimeout');
    assert.match(ran.report?.firstError?.message ?? '', /did not complete within 0 s/);
    assert.equal(call(ran, 'srcPerform').ended, 'cancelled');
    // WAIT_CANCELLATION_COMPLETED: the incoming guest is killed only once QEMU's migration stopped.
    const at = (a: string) => ran.activities.indexOf(a);
    assert.ok(at('cancel srcPerform') > 0 && at('cancel srcPerform') < at('cancelled srcPerform'));
    assert.ok(at('cancelled srcPerform') < at('schedule dstFinish:cancelled'), ran.activities.join(', '));
  });

  test('migrate workflow - a speed change the source refuses during Perform is logged, and the migration goes on', async () => {
    const speedTried = latch();
    const ran = await runMigration(env, {
      fakes: {
        srcPerform: async (i) => {
          await speedTried.promise;
          return {
            cookie: `perform:${i.migrationId}`,
            stats: { downtimeMs: 40, bytes: 1, passes: 1, totalTimeMs: 1 },
            digest: 'a'.repeat(64),
          };
        },
        srcSetSpeed: () => {
          speedTried.open();
          return Promise.reject(refusal('QmpError', 'migrate-set-parameters: not now'));
        },
      },
      async drive(m) {
        await m.started('srcPerform');
        await m.handle.signal(setMaxDowntime, 800);
      },
    });
    assertEnded(ran);
    assert.equal(ran.report?.outcome, 'completed');
    assert.equal(call(ran, 'srcSetSpeed').input.maxDowntimeMs, 800);
    assert.ok(
      ran.warnings().some((w) => w === 'could not change speed'),
      `warnings: ${ran.warnings().join('; ')}`,
    );
  });

  test("migrate workflow - a cancelled Finish the destination refuses is logged; Confirm cancelled still runs, Prepare's error kept", async () => {
    const ran = await runMigration(env, {
      fakes: {
        dstPrepare: () => Promise.reject(refusal('CapacityShort', 'no room')),
        dstFinish: () => Promise.reject(refusal('JobGone', 'no incoming migration')),
      },
    });
    assertEnded(ran);
    assert.deepEqual(phases(ran.report).slice(1), [
      'prepare:normal:failed',
      'finish:cancelled:failed',
      'confirm:cancelled:ok',
    ]);
    assert.equal(ran.report?.outcome, 'rolled-back');
    assert.equal(ran.report?.runsOn, ran.source);
    assert.equal(ran.report?.firstError?.type, 'CapacityShort');
    assert.ok(ran.warnings().some((w) => w.startsWith('cancelled Finish did not reach the destination')));
  });

  test("migrate workflow - every compensation failing too: outcome failed, VM location unknown, Perform's error kept", async () => {
    const ran = await runMigration(env, {
      fakes: {
        srcPerform: () => Promise.reject(refusal('MigrationFailed', 'stream cut')),
        dstFinish: () => Promise.reject(refusal('JobGone', 'no incoming migration')),
        srcConfirm: () => Promise.reject(refusal('GuestLost', 'vm is gone from src')),
      },
    });
    assertEnded(ran);
    assert.deepEqual(phases(ran.report).slice(2), [
      'perform:normal:failed',
      'finish:cancelled:failed',
      'confirm:cancelled:failed',
    ]);
    assert.equal(ran.report?.outcome, 'failed');
    assert.equal(ran.report?.runsOn, null);
    assert.equal(ran.report?.firstError?.type, 'MigrationFailed');
    assert.equal(ran.report?.firstError?.phase, 'perform');
    // Each phase keeps its own error beside the first.
    assert.match(ran.report?.phases.at(-1)?.error ?? '', /GuestLost|vm is gone from src/);
  });
});

// The host-operation workflow on Temporal's test environment: a name that is no operation of an
// agent is refused by the workflow itself (UnknownOperation, naming the guest operations and
// phases it knows) without scheduling an activity, instead of reaching an agent as an
// unregistered activity.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, test } from 'node:test';
import { WorkflowFailedError } from '@temporalio/client';
import { startMigrateEnv, type MigrateEnv } from './migrate-workflow-harness.ts';

let env: MigrateEnv;
before(async () => {
  env = await startMigrateEnv();
});
after(async () => {
  await env?.teardown();
});

test('host operation workflow - an unknown operation is refused by the workflow, no activity scheduled', async () => {
  const client = env.env.client;
  const workflowId = `host-op-${randomUUID()}`;
  const failure = await client.workflow
    .execute('hostOperation', { workflowId, taskQueue: env.taskQueue, args: ['rebootGuest', ['vm-1']] })
    .then(
      () => assert.fail('the workflow completed'),
      (err: unknown) => err,
    );
  assert.ok(failure instanceof WorkflowFailedError, String(failure));
  const cause = failure.cause as { type?: string; message?: string } | undefined;
  assert.equal(cause?.type, 'UnknownOperation');
  assert.match(
    String(cause?.message),
    /unknown host operation rebootGuest: one of startGuest, .*, srcBegin, /,
  );
  const history = await client.workflow.getHandle(workflowId).fetchHistory();
  const scheduled = (history.events ?? []).filter((e) => e.activityTaskScheduledEventAttributes);
  assert.deepEqual(scheduled, [], 'no activity was scheduled');
});

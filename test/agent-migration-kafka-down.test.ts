// exclusive: stops the shared Kafka.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { controllerOutbox } from '../workers/controller/files.ts';
import { after, before, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseEvent } from '../protocol/events.ts';
import { hostStateDir } from '../hosts/agent/identity.ts';
import type { Config } from '../infra/config.ts';
import { startService, stopService } from '../infra/stack/stack.ts';
import { twoAgents, type TwoAgents } from '../lab/agents.ts';
import { readEvents } from './support/events.ts';
import { startTestController, type TestController } from '../lab/migrate.ts';
import { realStack, uniqueName } from '../lab/stack.ts';

const vm = uniqueName('vm');
let cfg: Config;
let agents: TwoAgents;
let ctl: TestController;
let hostA: string;
let hostB: string;

const agentPid = (h: string) =>
  (JSON.parse(readFileSync(join(hostStateDir(cfg.stateDir, h), 'agent.pid'), 'utf8')) as { pid: number }).pid;

before(async () => {
  cfg = await realStack();
  agents = await twoAgents(cfg, ['127.0.0.10', '127.0.0.11']);
  ({ source: hostA, destination: hostB } = agents);
  ctl = await startTestController(cfg);
});

after(async () => {
  await startService(cfg, 'kafka', () => undefined).catch(() => undefined);
  await ctl?.stop();
  await agents?.stop();
});

test('agent events - a migration while Kafka is down, its source agent SIGKILLed before Kafka returns: every event arrives once', async () => {
  await agents.startGuest(vm, '--memory', '32', '--dirty-rate', '500');
  await sleep(3000); // the agents ship what they have so far

  await stopService(cfg, 'kafka', () => undefined);
  let migrationId: string;
  try {
    const report = await ctl.run({
      vm,
      source: hostA,
      destination: hostB,
      maxDowntimeMs: 300,
      bandwidthMiBps: 256,
      progressTimeoutMs: 30_000,
    });
    assert.equal(report.outcome, 'completed', JSON.stringify(report.firstError));
    migrationId = report.migrationId;
    // The source agent dies with its events still in its outbox.
    process.kill(agentPid(hostA), 'SIGKILL');
  } finally {
    await startService(cfg, 'kafka', () => undefined);
  }
  await agents.start(hostA);

  // Exactly the events the outboxes recorded for this migration (the two agents', and the
  // controller's with migration.ended, kept as controller/Controller.start names it), once each
  // after de-duplication.
  const outboxes = [
    ...[hostA, hostB].map((h) => hostStateDir(cfg.stateDir, h)),
    controllerOutbox(cfg, ctl.taskQueue).dir,
  ];
  const recorded = outboxes.flatMap((dir) =>
    readFileSync(join(dir, 'outbox.jsonl'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => parseEvent(JSON.parse(l)))
      .filter((e) => e.migrationId === migrationId),
  );
  const got = await readEvents(
    cfg,
    (e) => e.migrationId === migrationId,
    (events) => events.length >= recorded.length,
    60_000,
  );
  const has = (host: string, type: string) => got.some((e) => e.host === host && e.type === type);

  assert.ok(recorded.length > 10, `the migration recorded events (${recorded.length})`);
  assert.deepEqual([...new Set(got.map((e) => e.id))].sort(), recorded.map((e) => e.id).sort());
  assert.ok(
    has(hostA, 'migration.status') && has(hostA, 'tunnel.closed') && has(hostB, 'tunnel.closed'),
    'both sides are there',
  );
  assert.ok(
    got.some((e) => e.type === 'migration.ended'),
    "the controller's end of the story is there",
  );
});

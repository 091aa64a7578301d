import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { parseEvent } from '../events/schema.ts';
import { hostStateDir } from '../hosts/agent/identity.ts';
import type { Config } from '../infra/config.ts';
import { startService, stopService } from '../infra/stack/stack.ts';
import { runHostOperation } from '../cli/host-operation.ts';
import { ferry } from './support/cli.ts';
import { runMigration } from './support/migrate.ts';
import { readEvents } from './support/events.ts';
import { realStack, uniqueName } from './support/stack.ts';

const [hostA, hostB] = [uniqueName('host'), uniqueName('host')];
const vm = uniqueName('vm');
let cfg: Config;

const startHost = async (h: string, ip: string) => {
  const r = await ferry('host', 'start', h, '--address', ip, '--memory', '1024', '--detach');
  assert.equal(r.status, 0, r.stderr);
};
const agentPid = (h: string) =>
  (JSON.parse(readFileSync(join(hostStateDir(cfg.stateDir, h), 'agent.pid'), 'utf8')) as { pid: number }).pid;

before(async () => {
  cfg = await realStack();
  await startHost(hostA, '127.0.0.10');
  await startHost(hostB, '127.0.0.11');
});

after(async () => {
  await startService(cfg, 'kafka', () => undefined).catch(() => undefined);
  await runHostOperation(cfg, hostB, 'killGuest', vm, 'test cleanup').catch(() => undefined);
  await ferry('guest', 'kill', vm);
  await ferry('host', 'stop', hostA);
  await ferry('host', 'stop', hostB);
});

test('agent events - a migration while Kafka is down, its source agent SIGKILLed before Kafka returns: every event arrives once', async () => {
  const r = await ferry('guest', 'start', vm, '--host', hostA, '--memory', '32', '--dirty-rate', '500');
  assert.equal(r.status, 0, r.stderr);
  await sleep(3000); // the agents ship what they have so far

  await stopService(cfg, 'kafka', () => undefined);
  let migrationId: string;
  try {
    ({ migrationId } = await runMigration(cfg, {
      vm,
      kind: 'emulated',
      memoryMiB: 32,
      source: hostA,
      destination: hostB,
      downtimeLimitMs: 300,
      maxBandwidthBytesPerSec: 256 * 1024 * 1024,
      progressTimeoutMs: 30_000,
    }));
    // The source agent dies with its events still in its outbox.
    process.kill(agentPid(hostA), 'SIGKILL');
  } finally {
    await startService(cfg, 'kafka', () => undefined);
  }
  await startHost(hostA, '127.0.0.10');

  // Exactly the events the two outboxes recorded for this migration, once each after de-duplication.
  const recorded = [hostA, hostB].flatMap((h) =>
    readFileSync(join(hostStateDir(cfg.stateDir, h), 'outbox.jsonl'), 'utf8')
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
});

// An agent's outbox with a corrupted line in the middle, shipped to the real Kafka: the line goes
// to quarantine (counted), every event after it is shipped, signed, and the audit of the topic
// takes them all and names the one hole the quarantined line left (log-gap), nothing else.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import type { Kafka } from 'kafkajs';
import type { Redis } from 'ioredis';
import { runAudit } from '../events/audit-run.ts';
import { Outbox } from '../hosts/outbox/outbox.ts';
import { Shipper } from '../hosts/outbox/shipper.ts';
import type { Config } from '../infra/config.ts';
import { createKafka } from '../infra/kafka/bus.ts';
import { createLogger } from '../infra/logging/logger.ts';
import { adminIdentity } from '../infra/pki/index.ts';
import { createRedis } from '../infra/redis/client.ts';
import { EventKeys } from '../infra/redis/event-keys.ts';
import { createTopic, deleteTopics, seededSigner } from '../lab/event-forge.ts';
import { realStack, uniqueName } from '../lab/stack.ts';

let cfg: Config;
let kafka: Kafka;
let redis: Redis;
let keyId = '';
const [topic, dead] = [uniqueName('test-quarantine'), uniqueName('test-quarantine-dead')];
const host = uniqueName('host');
const signer = seededSigner(host);
const dir = mkdtempSync(join(tmpdir(), 'ferry-quarantine-ship-'));

before(async () => {
  cfg = await realStack();
  const admin = cfg.security.enabled ? adminIdentity(cfg) : undefined;
  kafka = createKafka(
    cfg,
    'test-quarantine',
    createLogger('test-quarantine', 'error', () => undefined),
    admin,
  );
  redis = createRedis(cfg, 'test-quarantine', admin ? { identity: admin } : {});
  const publicKeyPem = signer.publicKey.export({ type: 'spki', format: 'pem' }).toString();
  keyId = await new EventKeys(redis).register({ role: 'host', name: host, publicKeyPem });
  await createTopic(kafka, topic);
});

after(async () => {
  await new EventKeys(redis).remove([keyId]);
  redis.disconnect();
  await deleteTopics(kafka, [topic, dead]);
  rmSync(dir, { recursive: true, force: true });
});

test('outbox quarantine - a corrupted line is quarantined and every event after it reaches Kafka, signed', async () => {
  const first = new Outbox(dir, host, { signer });
  for (let i = 0; i < 6; i++) {
    first.record({ type: 'guest.paused', vm: `vm-${i % 2}`, data: { reason: `step ${i}` } });
  }
  first.close(); // the agent stopped before anything was shipped

  // A disk error garbles seq 2's line.
  const file = join(dir, 'outbox.jsonl');
  const lines = readFileSync(file, 'utf8').split('\n');
  lines[2] = lines[2]!.slice(0, 40) + '\u0000\u0000' + lines[2]!.slice(60);
  writeFileSync(file, lines.join('\n'));

  const logged: string[] = [];
  const outbox = new Outbox(dir, host, {
    signer,
    log: createLogger('test-quarantine', 'info', (line) => logged.push(line)),
  });
  assert.equal(outbox.quarantined, 1);
  assert.equal(logged.filter((l) => /quarantine/.test(l)).length, 1, 'the recovery says so in the log');
  assert.equal(outbox.backlog, 5);
  const shipper = new Shipper(
    kafka,
    outbox,
    createLogger('test-quarantine', 'error', () => undefined),
    topic,
  );
  shipper.start();
  try {
    assert.ok(await shipper.drain(60_000), 'the five readable events reach Kafka');
  } finally {
    await shipper.stop();
    outbox.close();
  }

  const report = await runAudit(cfg, { topic, deadLetterTopic: dead, live: false, requireSignatures: true });
  assert.equal(report.events, 5);
  assert.deepEqual(report.unverified, [], 'every shipped event carries a signature that holds');
  assert.deepEqual(
    report.violations.map((v) => [v.check, v.message]),
    [['log-gap', `${host}'s events jump from seq 1 to 3: 1 never reached the log`]],
  );
});

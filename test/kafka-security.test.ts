// Kafka with FERRY_SECURITY=on, on a Kafka of this file's own (a private state dir and ports, the
// other services not started): SASL_SSL with SCRAM-SHA-512 and client certificates is the only way
// in, and the ACLs let publishers write the event log, the operator read it, and only admin manage
// topics. Each attack is asserted to fail the way Kafka refuses it, not merely to fail.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { Kafka, logLevel, type KafkaConfig } from 'kafkajs';
import { loadConfig, type Config } from '../infra/config.ts';
import { createKafka, createProducer, ensureTopic } from '../infra/kafka/bus.ts';
import { kafkaClientSecurity } from '../infra/kafka/client-security.ts';
import { provisionKafkaCluster } from '../infra/kafka/cluster-setup.ts';
import { KafkaSecurityError, KafkaTopicMissingError } from '../infra/kafka/errors.ts';
import { ConfigResourceTypes, ConfigSource } from '../infra/kafka/kafkajs-enums.ts';
import { DEAD_LETTER_TOPIC, EVENTS_TOPIC } from '../infra/kafka/topics.ts';
import { createLogger } from '../infra/logging/logger.ts';
import { adminIdentity, initCaSync, issueIdentitySync, type IdentityBundle } from '../infra/pki/index.ts';
import { startService, stopService } from '../infra/stack/stack.ts';
import { privateStack, type PrivateStack } from './support/private-stack.ts';

let stack: PrivateStack;
let cfg: Config;
let agent: IdentityBundle;
let controller: IdentityBundle;
let operator: IdentityBundle;
let stranger: IdentityBundle;

before(async () => {
  stack = await privateStack('kafka-security');
  cfg = loadConfig({ ...process.env, ...stack.env, FERRY_SECURITY: 'on' });
  initCaSync(cfg);
  await startService(cfg, 'kafka', () => undefined);
  agent = issueIdentitySync(cfg, { role: 'host', name: 'ks-host-a' });
  controller = issueIdentitySync(cfg, { role: 'controller', name: 'ks-ctl' });
  operator = issueIdentitySync(cfg, { role: 'operator', name: 'ks-op' });
  // An operator of another cluster: a certificate from another CA, this cluster's operator password.
  const otherRoot = mkdtempSync(join(tmpdir(), 'ferry-kafka-security-other-'));
  const other = loadConfig({ ...process.env, FERRY_STATE_DIR: otherRoot, FERRY_SECURITY: 'on' });
  stranger = {
    ...issueIdentitySync(other, { role: 'operator', name: 'ks-op' }),
    credentials: operator.credentials,
  };
  rmSync(otherRoot, { recursive: true, force: true });
});

after(async () => {
  if (cfg) await stopService(cfg, 'kafka', () => undefined).catch(() => undefined);
  await stack?.dispose();
});

const quiet = createLogger('test-kafka-security', 'error', () => undefined);
const as = (id: IdentityBundle, name: string) => createKafka(cfg, `test-${name}`, quiet, id);

/** A client configured by hand (what an attacker controls), failing fast instead of retrying. */
function raw(extra: Partial<KafkaConfig>): Kafka {
  return new Kafka({
    clientId: 'test-attacker',
    brokers: cfg.kafka.brokers,
    logLevel: logLevel.NOTHING,
    connectionTimeout: 2000,
    authenticationTimeout: 3000,
    requestTimeout: 3000,
    retry: { retries: 0 },
    ...extra,
  });
}

/** What listing topics with `kafka` does: the topics, or the error's name and message. */
async function tryList(kafka: Kafka): Promise<string[] | Error> {
  const admin = kafka.admin();
  try {
    await admin.connect();
    return await admin.listTopics();
  } catch (err) {
    return err as Error;
  } finally {
    await admin.disconnect().catch(() => undefined);
  }
}

/** Whether Kafka's answer inside `err` (kafkajs nests them) is an authorization refusal. */
function refusedByAcl(err: unknown): boolean {
  const e = err as { type?: string; message?: string; errors?: unknown[]; cause?: unknown };
  if (/AUTHORIZATION_FAILED/.test(e.type ?? '') || /not authorized/i.test(e.message ?? '')) return true;
  return (e.errors ?? []).some(refusedByAcl) || (e.cause !== undefined && refusedByAcl(e.cause));
}

async function produce(kafka: Kafka, topic: string, value: string): Promise<void> {
  const producer = createProducer(kafka);
  await producer.connect();
  try {
    await producer.send({ topic, messages: [{ key: 'vm-ks', value }] });
  } finally {
    await producer.disconnect();
  }
}

test('kafka security - a client with the CA and a certificate but no SASL login is refused', async () => {
  const got = await tryList(raw({ ssl: { ca: [operator.ca], cert: operator.cert, key: operator.key } }));
  assert.ok(got instanceof Error, `listed topics without a login: ${String(got)}`);
  // The broker answers nothing but a SASL handshake on CLIENT: it closes the connection.
  assert.match(got.message, /Closed connection/);
});

test('kafka security - a wrong SCRAM password is refused by SASL authentication', async () => {
  const got = await tryList(
    raw({
      ssl: { ca: [operator.ca], cert: operator.cert, key: operator.key },
      sasl: {
        mechanism: 'scram-sha-512',
        username: 'operator',
        password: `${operator.credentials.kafka.password}x`,
      },
    }),
  );
  assert.ok(got instanceof Error, 'a wrong password listed topics');
  assert.match(got.message, /SASL SCRAM SHA512 authentication failed/);
});

test('kafka security - the right password without a client certificate is refused in the TLS handshake', async () => {
  const got = await tryList(
    raw({
      ssl: { ca: [operator.ca] },
      sasl: {
        mechanism: 'scram-sha-512',
        username: 'operator',
        password: operator.credentials.kafka.password,
      },
    }),
  );
  assert.ok(got instanceof Error, 'listed topics without a client certificate');
  // The broker's TLS alert 42: it asked for a certificate and got none.
  assert.match(got.message, /alert bad certificate/);
});

test('kafka security - a client certificate from another CA is refused even with the right password', async () => {
  const got = await tryList(
    raw({
      ssl: { ca: [operator.ca], cert: stranger.cert, key: stranger.key },
      sasl: {
        mechanism: 'scram-sha-512',
        username: 'operator',
        password: operator.credentials.kafka.password,
      },
    }),
  );
  assert.ok(got instanceof Error, "another CA's certificate listed topics");
  // TLS alert 46: a certificate the broker's trust store (this cluster's CA) does not know.
  assert.match(got.message, /alert certificate unknown/);
});

test('kafka security - a plaintext client gets no answer from the client port', async () => {
  const got = await tryList(raw({}));
  assert.ok(got instanceof Error, `a plaintext client listed topics: ${String(got)}`);
  assert.match(got.message, /Closed connection/);
  // And nothing else listens in plaintext where a client could reach it: the server's listeners.
  const props = readFileSync(join(cfg.stateDir, 'kafka', 'server.properties'), 'utf8');
  assert.match(props, /^listener\.security\.protocol\.map=CLIENT:SASL_SSL,CONTROLLER:SSL$/m);
  assert.doesNotMatch(props, /PLAINTEXT/);
});

test('kafka security - the event log is created by stack up alone, with retention.ms=-1 and min.insync.replicas on the topic itself', async () => {
  const admin = as(adminIdentity(cfg), 'admin').admin();
  await admin.connect();
  try {
    const topics = await admin.listTopics();
    assert.ok(topics.includes(EVENTS_TOPIC) && topics.includes(DEAD_LETTER_TOPIC), topics.join(', '));
    const described = await admin.describeConfigs({
      includeSynonyms: false,
      resources: [{ type: ConfigResourceTypes.TOPIC, name: EVENTS_TOPIC }],
    });
    const entries = described.resources[0]?.configEntries ?? [];
    const own = (name: string) =>
      entries.find((e) => e.configName === name && e.configSource === ConfigSource.TOPIC_CONFIG)?.configValue;
    assert.equal(own('retention.ms'), '-1');
    assert.equal(own('min.insync.replicas'), '1');
  } finally {
    await admin.disconnect();
  }
});

test('kafka security - an agent and a controller can produce to the event log and the operator reads it back in a reader group', async () => {
  const [fromAgent, fromController] = [`agent-${randomUUID()}`, `controller-${randomUUID()}`];
  await produce(as(agent, 'agent'), EVENTS_TOPIC, fromAgent);
  await produce(as(controller, 'controller'), EVENTS_TOPIC, fromController);

  const consumer = as(operator, 'operator').consumer({ groupId: `ferry-reader-${randomUUID()}` });
  const seen = new Set<string>();
  await consumer.connect();
  try {
    await consumer.subscribe({ topic: EVENTS_TOPIC, fromBeginning: true });
    await consumer.run({
      eachMessage: ({ message }) => {
        seen.add(String(message.value));
        return Promise.resolve();
      },
    });
    const deadline = Date.now() + 30_000;
    while (!(seen.has(fromAgent) && seen.has(fromController))) {
      if (Date.now() > deadline) assert.fail(`the operator read ${[...seen].join(', ')} within 30 s`);
      await sleep(100);
    }
  } finally {
    await consumer.disconnect();
  }
});

test('kafka security - the operator cannot produce to the event log', async () => {
  await assert.rejects(
    produce(as(operator, 'operator'), EVENTS_TOPIC, 'forged by a reader'),
    (err: Error) => {
      assert.match(err.message, /not authorized/i);
      return true;
    },
  );
});

test('kafka security - an agent cannot read the event log: its group is refused', async () => {
  // kafkajs reports a refused coordinator lookup as "Failed to find group coordinator" and keeps
  // Kafka's reason in its debug log: that is where this test looks for it.
  const reasons: string[] = [];
  const kafka = new Kafka({
    ...kafkaClientSecurity(cfg, agent),
    clientId: 'test-agent-reader',
    brokers: cfg.kafka.brokers,
    logLevel: logLevel.DEBUG,
    logCreator: () => (entry) => {
      const error = (entry.log as { error?: { type?: string } }).error;
      if (error?.type) reasons.push(error.type);
    },
    retry: { retries: 0 },
  });
  const consumer = kafka.consumer({ groupId: `ferry-reader-${randomUUID()}` });
  await consumer.connect();
  try {
    await consumer.subscribe({ topic: EVENTS_TOPIC, fromBeginning: true });
    await assert.rejects(
      new Promise<void>((resolve, reject) => {
        consumer.on(consumer.events.CRASH, (e) => reject(e.payload.error));
        consumer.on(consumer.events.GROUP_JOIN, () => resolve());
        consumer.run({ eachMessage: () => Promise.resolve() }).catch(reject);
      }),
      /group coordinator/,
    );
    assert.ok(reasons.includes('GROUP_AUTHORIZATION_FAILED'), `Kafka's reasons: ${reasons.join(', ')}`);
  } finally {
    await consumer.disconnect();
  }
});

test('kafka security - neither an agent nor the operator can create or delete a topic', async () => {
  for (const [id, name] of [
    [agent, 'agent'],
    [operator, 'operator'],
  ] as const) {
    const admin = as(id, name).admin();
    await admin.connect();
    try {
      await assert.rejects(
        admin.createTopics({ topics: [{ topic: `test.ks-${name}-${randomUUID()}` }] }),
        refusedByAcl,
        `${name} created a topic`,
      );
      await assert.rejects(admin.deleteTopics({ topics: [EVENTS_TOPIC] }), refusedByAcl);
    } finally {
      await admin.disconnect();
    }
  }
});

test('kafka security - a missing event log is refused with one line and not recreated, until stack up creates it', async () => {
  const admin = as(adminIdentity(cfg), 'admin').admin();
  await admin.connect();
  try {
    await admin.deleteTopics({ topics: [EVENTS_TOPIC] });
    const deadline = Date.now() + 30_000;
    while ((await admin.listTopics()).includes(EVENTS_TOPIC)) {
      if (Date.now() > deadline) assert.fail(`${EVENTS_TOPIC} still listed 30 s after its deletion`);
      await sleep(100);
    }
    // What a shipper calls before its first send, here as the admin, who could create it.
    await assert.rejects(ensureTopic(admin, EVENTS_TOPIC, 6), (err: Error) => {
      assert.ok(err instanceof KafkaTopicMissingError, String(err));
      assert.equal(err.message, `Kafka has no topic ${EVENTS_TOPIC}`);
      assert.doesNotMatch(err.message, /\n/);
      return true;
    });
    assert.ok(!(await admin.listTopics()).includes(EVENTS_TOPIC), 'the refusal created the topic');
    await provisionKafkaCluster(cfg, () => undefined);
    const meta = await admin.fetchTopicMetadata({ topics: [EVENTS_TOPIC] });
    assert.equal(meta.topics[0]?.partitions.length, 6);
  } finally {
    await admin.disconnect();
  }
});

test('kafka security - the running Kafka asked for with FERRY_SECURITY=off is one line at once, not a start-up timeout', async () => {
  const plain = { ...cfg, security: { enabled: false } };
  const started = Date.now();
  await assert.rejects(
    startService(plain, 'kafka', () => undefined),
    (err: Error) => {
      assert.ok(err instanceof KafkaSecurityError, String(err));
      assert.match(
        err.message,
        /^Kafka \(pid \d+\) was started with FERRY_SECURITY=on, and this runs with off$/,
      );
      return true;
    },
  );
  assert.ok(Date.now() - started < 15_000, `took ${Date.now() - started} ms`);
});

// The broker's security settings as written to server.properties, the principal its certificate
// gives it, and the topic names infra/kafka shares with the layers above (defined twice until
// protocol/events.ts and events/dead-letter.ts take them from infra/kafka/topics.ts).
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { DEAD_LETTER_TOPIC as DEAD_IN_EVENTS } from '../../events/dead-letter.ts';
import { loadConfig } from '../../infra/config.ts';
import { ferryAcls } from '../../infra/kafka/acls.ts';
import { AclOperationTypes as Op } from '../../infra/kafka/kafkajs-enums.ts';
import { rfc2253Subject } from '../../infra/kafka/scram.ts';
import { kafkaSecurityProperties, propertyValue } from '../../infra/kafka/security-properties.ts';
import { kafkaServerProperties } from '../../infra/kafka/server-properties.ts';
import { DEAD_LETTER_TOPIC, EVENTS_PARTITIONS, EVENTS_TOPIC } from '../../infra/kafka/topics.ts';
import { issueIdentitySync } from '../../infra/pki/index.ts';
import {
  EVENTS_PARTITIONS as PARTITIONS_IN_PROTOCOL,
  EVENTS_TOPIC as TOPIC_IN_PROTOCOL,
} from '../../protocol/events.ts';

const settings = {
  ca: '-----BEGIN CERTIFICATE-----\nQ0E=\n-----END CERTIFICATE-----\n',
  cert: '-----BEGIN CERTIFICATE-----\nQ0VSVA==\n-----END CERTIFICATE-----\n',
  key: '-----BEGIN PRIVATE KEY-----\nS0VZ\n-----END PRIVATE KEY-----\n',
  adminPassword: 'pw-123_abc',
  brokerPrincipal: 'CN=kafka,OU=service,O=ferry',
};

test('kafka properties - a PEM value is one line with its breaks escaped, and backslashes doubled', () => {
  assert.equal(propertyValue('a\nb\r\nc\\d'), 'a\\nb\\nc\\\\d');
  for (const line of kafkaSecurityProperties(settings)) assert.doesNotMatch(line, /\n/);
});

test('kafka properties - with security, clients reach SASL_SSL only, certificates required on both listeners, admin and the broker super users', () => {
  const cfg = loadConfig({
    FERRY_STATE_DIR: '/nonexistent',
    FERRY_KAFKA_PORT: '30001',
    FERRY_KAFKA_CONTROLLER_PORT: '30002',
  });
  const props = kafkaServerProperties(cfg, '/data', settings).split('\n');
  assert.ok(props.includes('listeners=CLIENT://127.0.0.1:30001,CONTROLLER://127.0.0.1:30002'));
  assert.ok(props.includes('advertised.listeners=CLIENT://127.0.0.1:30001'));
  assert.ok(props.includes('listener.security.protocol.map=CLIENT:SASL_SSL,CONTROLLER:SSL'));
  assert.ok(props.includes('listener.name.client.ssl.client.auth=required'));
  assert.ok(props.includes('listener.name.controller.ssl.client.auth=required'));
  assert.ok(props.includes('super.users=User:admin;User:CN=kafka,OU=service,O=ferry'));
  assert.ok(props.includes('allow.everyone.if.no.acl.found=false'));
  assert.ok(
    props.includes('ssl.keystore.key=-----BEGIN PRIVATE KEY-----\\nS0VZ\\n-----END PRIVATE KEY-----'),
  );
  assert.ok(!props.some((l) => l.includes('PLAINTEXT')), 'a plaintext listener remains');
  const plain = kafkaServerProperties(cfg, '/data').split('\n');
  assert.ok(plain.includes('listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT'));
  assert.ok(!plain.some((l) => l.startsWith('ssl.') || l.startsWith('sasl.')));
});

test("kafka properties - KRaft's controller listener stays on loopback when clients reach a lab bridge address", () => {
  const cfg = {
    ...loadConfig({
      FERRY_STATE_DIR: '/nonexistent',
      FERRY_KAFKA_PORT: '30001',
      FERRY_KAFKA_CONTROLLER_PORT: '30002',
    }),
    bindHost: '10.77.0.1',
  };
  for (const props of [kafkaServerProperties(cfg, '/data', settings), kafkaServerProperties(cfg, '/data')]) {
    const lines = props.split('\n');
    assert.ok(lines.includes('controller.quorum.voters=1@127.0.0.1:30002'), props);
    assert.ok(
      lines.some((l) => /^listeners=\w+:\/\/10\.77\.0\.1:30001,CONTROLLER:\/\/127\.0\.0\.1:30002$/.test(l)),
    );
  }
});

test("kafka properties - the broker's principal is its certificate's subject in RFC 2253 order", () => {
  const root = mkdtempSync(join(tmpdir(), 'ferry-kafka-principal-'));
  try {
    const id = issueIdentitySync(loadConfig({ FERRY_STATE_DIR: root }), { role: 'service', name: 'kafka' });
    assert.equal(rfc2253Subject(id.cert), 'CN=kafka,OU=service,O=ferry');
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test('kafka acls - publishers write and describe only the event log; only the operator reads, in its reader groups', () => {
  const acls = ferryAcls();
  const of = (user: string) => acls.filter((a) => a.principal === `User:${user}`);
  for (const user of ['agent', 'controller']) {
    assert.deepEqual(
      of(user)
        .map((a) => [a.resourceName, a.operation])
        .sort(),
      [
        [EVENTS_TOPIC, 4],
        [EVENTS_TOPIC, 8],
      ].sort(),
    );
  }
  assert.ok(
    !acls.some(
      (a) => a.principal === 'User:operator' && a.resourceName === EVENTS_TOPIC && a.operation === Op.WRITE,
    ),
  );
  assert.ok(
    !acls.some((a) => a.operation === Op.CREATE || a.operation === Op.DELETE || a.operation === Op.ALL),
    'CREATE, DELETE or ALL granted',
  );
});

test('kafka topics - the names infra/kafka creates are the ones the event log and its readers use', () => {
  assert.equal(EVENTS_TOPIC, TOPIC_IN_PROTOCOL);
  assert.equal(EVENTS_PARTITIONS, PARTITIONS_IN_PROTOCOL);
  assert.equal(DEAD_LETTER_TOPIC, DEAD_IN_EVENTS);
});

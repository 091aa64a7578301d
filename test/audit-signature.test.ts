// The audit against a log of signed events on the real Kafka, with the publishers' keys enrolled in
// the real Redis registry: a changed copy of a real event, an event signed with a key no publisher
// owns, and (signatures required) an unsigned event are each a violation naming its partition and
// offset, and none of them is folded into the rebuilt cluster; a host whose first event in the log
// is not its seq 0 is reported too. Works with security on or off (the test talks to the services
// as the stack's admin when it is on).
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { Kafka, Message } from 'kafkajs';
import type { Redis } from 'ioredis';
import { runAudit } from '../events/audit-run.ts';
import type { Violation } from '../events/violations.ts';
import type { Config } from '../infra/config.ts';
import { createKafka, createProducer } from '../infra/kafka/bus.ts';
import { createLogger } from '../infra/logging/logger.ts';
import { adminIdentity } from '../infra/pki/index.ts';
import { createRedis } from '../infra/redis/client.ts';
import { EventKeys } from '../infra/redis/event-keys.ts';
import { ferry } from '../lab/cli.ts';
import { asMessage, createTopic, deleteTopics, EventForge, seededSigner } from '../lab/event-forge.ts';
import { completedMigration, guestStarted, hostStarted } from '../lab/event-scenarios.ts';
import { realStack, uniqueName } from '../lab/stack.ts';
import type { EventSigner } from '../protocol/event-signature.ts';
import type { FerryEvent } from '../protocol/events.ts';

let cfg: Config;
let kafka: Kafka;
let redis: Redis;
const registered: string[] = [];
const [topic, dead] = [uniqueName('test-signature'), uniqueName('test-signature-dead')];
const [A, B, C, ctl] = [uniqueName('host'), uniqueName('host'), uniqueName('host'), uniqueName('ctl')];
const [vm, other] = [uniqueName('vm'), uniqueName('vm')];

/** Where each bad message landed, and the event it carries. */
const bad: Record<
  'tampered' | 'stranger' | 'unsigned',
  { partition: number; offset: string; event: FerryEvent }
> = {} as never;
let honestCount = 0;
let startOfC: FerryEvent;

async function send(messages: Message[]): Promise<{ partition: number; offset: string }> {
  const producer = createProducer(kafka);
  await producer.connect();
  try {
    const [meta] = await producer.send({ topic, messages });
    return { partition: meta!.partition, offset: meta!.baseOffset! };
  } finally {
    await producer.disconnect();
  }
}

before(async () => {
  cfg = await realStack();
  const admin = cfg.security.enabled ? adminIdentity(cfg) : undefined;
  const quiet = createLogger('test-audit-signature', 'error', () => undefined);
  kafka = createKafka(cfg, 'test-audit-signature', quiet, admin);
  redis = createRedis(cfg, 'test-audit-signature', admin ? { identity: admin } : {});
  const keys = new EventKeys(redis);
  const signers = new Map<string, EventSigner>();
  for (const [role, name] of [
    ['host', A],
    ['host', B],
    ['host', C],
    ['controller', ctl],
  ] as const) {
    const signer = seededSigner(name);
    signers.set(name, signer);
    const publicKeyPem = signer.publicKey.export({ type: 'spki', format: 'pem' }).toString();
    registered.push(await keys.register({ role, name, publicKeyPem }));
  }
  await createTopic(kafka, topic);

  const f = new EventForge(Date.now() - 60_000);
  for (const h of [A, B, C]) f.signers.set(h, signers.get(h)!);
  f.signers.set('controller', signers.get(ctl)!); // the controller's outbox name, its key ctl's
  const hosts = [hostStarted(f, A), hostStarted(f, B)];
  const [lease, defined, started] = guestStarted(f, A, vm);
  const honest = [
    ...hosts,
    lease!,
    defined!,
    started!,
    ...guestStarted(f, A, other),
    ...completedMigration(f, { vm: other, migrationId: uniqueName('m'), source: A, destination: B }),
  ];
  honestCount = honest.length;
  // C's seq 0 never reaches this log: its first event here is seq 1.
  hostStarted(f, C);
  startOfC = hostStarted(f, C);

  // A copy of A's real guest.started, changed (paused), sent before the real one.
  const tampered = { ...started!, data: { pid: 1000, paused: true } } as FerryEvent;
  bad.tampered = { ...(await send([asMessage(tampered)])), event: tampered };
  await send([...honest, startOfC].map(asMessage));
  // B claims to run the VM A runs, signed with a key nobody enrolled: folded, it would be two-hosts.
  const stranger = seededSigner(`stranger-${B}`).sign(
    f.record(B, { type: 'guest.started', vm, data: { pid: 4242, paused: false } }),
  );
  bad.stranger = { ...(await send([asMessage(stranger)])), event: stranger };
  const { sig: _sig, ...unsigned } = f.record(A, {
    type: 'guest.paused',
    vm,
    data: { reason: 'unsigned' },
  });
  bad.unsigned = { ...(await send([asMessage(unsigned)])), event: unsigned };
});

after(async () => {
  await new EventKeys(redis).remove(registered);
  redis.disconnect();
  await deleteTopics(kafka, [topic, dead]);
});

function named(violations: Violation[], check: string, which: keyof typeof bad): Violation {
  const { partition, offset, event } = bad[which];
  const v = violations.find(
    (x) => x.check === check && x.at?.offset === offset && x.at.partition === partition,
  );
  assert.ok(
    v,
    `${which} (${check}) at partition ${partition} offset ${offset}: ${JSON.stringify(violations)}`,
  );
  assert.match(v.message, new RegExp(`^${topic} partition ${partition} offset ${offset}: `));
  assert.deepEqual(
    v.cites.map((c) => `${c.host}:${c.seq}:${c.id}`),
    [`${event.host}:${event.seq}:${event.id}`],
  );
  return v;
}

test('audit signature - with signatures required, a changed, a stranger-signed and an unsigned event are named by partition and offset', async () => {
  const report = await runAudit(cfg, { topic, deadLetterTopic: dead, live: false, requireSignatures: true });
  const v = report.violations;
  assert.match(named(v, 'event-forged', 'tampered').message, /does not match its content/);
  assert.match(named(v, 'event-forged', 'stranger').message, /which no publisher registered/);
  assert.match(named(v, 'event-unsigned', 'unsigned').message, /carries no signature, and security is on/);
  const start = v.find((x) => x.check === 'log-start');
  assert.ok(start, JSON.stringify(v));
  assert.match(start.message, new RegExp(`^${C}'s first event in the log is seq 1, not 0`));
  assert.deepEqual(
    v.map((x) => x.check).sort(),
    ['event-forged', 'event-forged', 'event-unsigned', 'log-start'],
    'and nothing else: the forged start on B is not folded (no two-hosts), the real start is taken',
  );
  assert.equal(report.events, honestCount + 1, 'every honest event once (and C), none of the three');
  assert.equal(report.duplicates, 0);
  const copy = report.state.guests.get(vm)?.copies.get(A);
  assert.equal(copy?.state, 'running', 'the real guest.started, not the changed copy (paused)');
  assert.equal(report.state.guests.get(vm)?.copies.has(B), false);
});

test('audit signature - with signatures not required an unsigned event is taken, a forged one still is not', async () => {
  const report = await runAudit(cfg, { topic, deadLetterTopic: dead, live: false, requireSignatures: false });
  named(report.violations, 'event-forged', 'tampered');
  named(report.violations, 'event-forged', 'stranger');
  assert.deepEqual(report.violations.map((x) => x.check).sort(), [
    'event-forged',
    'event-forged',
    'log-start',
  ]);
  assert.equal(report.events, honestCount + 2);
  assert.equal(report.state.guests.get(vm)?.copies.get(A)?.state, 'paused', 'the unsigned pause was folded');
});

test('audit signature - ferry audit replay --json names the forged events and exits 3', async () => {
  const r = await ferry(
    'audit',
    'replay',
    '--topic',
    topic,
    '--dead-letter-topic',
    dead,
    '--no-live',
    '--json',
  );
  assert.equal(r.status, 3, r.stderr);
  const out = JSON.parse(r.stdout) as { violations: Violation[] };
  named(out.violations, 'event-forged', 'tampered');
  named(out.violations, 'event-forged', 'stranger');
  const unsigned = out.violations.filter((x) => x.check === 'event-unsigned');
  assert.equal(
    unsigned.length,
    cfg.security.enabled ? 1 : 0,
    'unsigned is a violation exactly when security is on',
  );
  const text = await ferry('audit', 'replay', '--topic', topic, '--dead-letter-topic', dead, '--no-live');
  assert.equal(text.status, 3);
  assert.match(
    text.stdout,
    new RegExp(
      `✗ invariant 5 event-forged: ${topic} partition ${bad.stranger.partition} offset ${bad.stranger.offset}: guest.started claiming ${B}:`,
    ),
  );
});

test('audit signature - the registry keeps a key to its owner: enrolling it again changes nothing, for another identity it is refused', async () => {
  const keys = new EventKeys(redis);
  const signer = seededSigner(A);
  const publicKeyPem = signer.publicKey.export({ type: 'spki', format: 'pem' }).toString();
  assert.equal(await keys.register({ role: 'host', name: A, publicKeyPem }), signer.keyId);
  await assert.rejects(keys.register({ role: 'host', name: B, publicKeyPem }), {
    code: 'EVENT_KEY_REFUSED',
    message: `event key ${signer.keyId} is already registered to host ${A}, not host ${B}`,
  });
  await assert.rejects(keys.register({ role: 'controller', name: A, publicKeyPem }), {
    code: 'EVENT_KEY_REFUSED',
  });
  const { keys: all } = await keys.all();
  assert.equal(all.get(signer.keyId)?.name, A, 'still A’s');
});

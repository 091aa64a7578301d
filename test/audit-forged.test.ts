// The audit against a log with a forged event: a VM started on a second host while it runs on the
// first. The audit must catch it and cite that very event (host:seq and id), from the library and
// from `ferry audit replay --json`, which exits non-zero.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { Kafka } from 'kafkajs';
import { runAudit } from '../events/audit-run.ts';
import type { Violation } from '../events/violations.ts';
import type { Config } from '../infra/config.ts';
import { createKafka } from '../infra/kafka/bus.ts';
import { createLogger } from '../infra/logging/logger.ts';
import { ferry } from '../lab/cli.ts';
import { asMessage, createTopic, deleteTopics, EventForge, writeMessages } from '../lab/event-forge.ts';
import { completedMigration, guestStarted, hostStarted } from '../lab/event-scenarios.ts';
import { realStack, uniqueName } from '../lab/stack.ts';
import { enrolForge } from './support/enrolled-forge.ts';

let cfg: Config;
let kafka: Kafka;
const [topic, dead] = [uniqueName('test-forged'), uniqueName('test-forged-dead')];
const [A, B, C] = [uniqueName('host'), uniqueName('host'), uniqueName('host')];
const [vm, other] = [uniqueName('vm'), uniqueName('vm')];
let forgedId = '';
let keys: Awaited<ReturnType<typeof enrolForge>> | undefined;

before(async () => {
  cfg = await realStack();
  kafka = createKafka(
    cfg,
    'test-forged',
    createLogger('test-forged', 'error', () => undefined),
  );
  await createTopic(kafka, topic);
  // Signed by the hosts' own (enrolled) keys: the forgery here is what B's agent says, not its signature.
  const f = new EventForge(Date.now() - 60_000).signAll(topic);
  const honest = [
    hostStarted(f, A),
    hostStarted(f, B),
    hostStarted(f, C),
    ...guestStarted(f, A, vm),
    ...guestStarted(f, A, other),
    ...completedMigration(f, { vm: other, migrationId: uniqueName('m'), source: A, destination: C }),
  ];
  // Someone (a bug, a split brain, a hand-written event) has the VM start on B while A runs it.
  const forged = f.record(B, { type: 'guest.started', vm, data: { pid: 4242, paused: false } });
  forgedId = forged.id;
  keys = await enrolForge(cfg, f);
  await writeMessages(kafka, topic, [...honest, forged].map(asMessage));
});

after(async () => {
  await keys?.remove();
  await deleteTopics(kafka, [topic, dead]);
});

function assertCaught(violations: Violation[]) {
  const two = violations.filter((v) => v.check === 'two-hosts');
  assert.equal(two.length, 1, JSON.stringify(violations));
  const v = two[0]!;
  assert.equal(v.vm, vm);
  assert.equal(v.invariant, 1);
  const cited = v.cites.map((c) => `${c.host}:${c.seq}:${c.id}`);
  assert.ok(cited.includes(`${B}:1:${forgedId}`), `the forged event is cited: ${cited.join(', ')}`);
  assert.equal(v.cites[0]?.host, A, 'and the event that had it running on A');
  // Nothing else is wrong with this log but that B runs the VM without its disk.
  assert.deepEqual(violations.map((x) => x.check).sort(), ['disk-elsewhere', 'two-hosts']);
}

test('audit - a forged start on a second host is caught, citing the forged event', async () => {
  const report = await runAudit(cfg, { topic, deadLetterTopic: dead, live: false });
  assert.equal(report.events, 3 + 3 + 3 + completedEventCount() + 1);
  assertCaught(report.violations);
  assert.equal(report.matchesLive, null);
  assert.equal(
    report.state.migrations.get([...report.state.migrations.keys()][0]!)?.ended?.outcome,
    'completed',
  );
});

test('audit - ferry audit replay --json says so and exits non-zero', async () => {
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
  const out = JSON.parse(r.stdout) as {
    events: number;
    migrations: number;
    violations: Violation[];
    matchesLive: null;
  };
  assert.equal(out.migrations, 1);
  assertCaught(out.violations);
  const text = await ferry('audit', 'replay', '--topic', topic, '--dead-letter-topic', dead, '--no-live');
  assert.equal(text.status, 3);
  assert.match(text.stdout, new RegExp(`✗ invariant 1 two-hosts: ${vm} runs on ${B}`));
  assert.match(text.stdout, new RegExp(`${B}:1 guest.started .* \\(${forgedId}\\)`));
});

function completedEventCount(): number {
  return completedMigration(new EventForge(), { vm: 'x', migrationId: 'm', source: 'a', destination: 'b' })
    .length;
}

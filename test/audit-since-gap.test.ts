// `ferry audit replay` against logs of the test's own (forged events in private topics): `--since`
// reads only what was recorded from that time on, and a host whose seq numbers jump (events that
// never reached the log) is reported as the `log-gap` violation, citing the events on either side.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { Kafka } from 'kafkajs';
import type { FerryEvent } from '../protocol/events.ts';
import type { Violation } from '../events/violations.ts';
import { createKafka } from '../infra/kafka/bus.ts';
import { createLogger } from '../infra/logging/logger.ts';
import { ferry } from '../lab/cli.ts';
import { asMessage, createTopic, deleteTopics, EventForge, writeMessages } from '../lab/event-forge.ts';
import { completedMigration, guestKilled, guestStarted, hostStarted } from '../lab/event-scenarios.ts';
import { realStack, uniqueName } from '../lab/stack.ts';
import { enrolForge } from './support/enrolled-forge.ts';

let kafka: Kafka;
const topics = {
  since: uniqueName('test-audit-since'),
  gap: uniqueName('test-audit-gap'),
  dead: uniqueName('test-audit-dead'),
};
const [A, B, C] = [uniqueName('host'), uniqueName('host'), uniqueName('host')];
const [old, recent, kept, lost, later] = ['old', 'recent', 'kept', 'lost', 'later'].map((p) =>
  uniqueName(`vm-${p}`),
) as [string, string, string, string, string];
let recentEvents = 0;
let gapEdges: [FerryEvent, FerryEvent];
const enrolled: Awaited<ReturnType<typeof enrolForge>>[] = [];

before(async () => {
  const cfg = await realStack();
  kafka = createKafka(
    cfg,
    'test-audit-since-gap',
    createLogger('test-audit-since-gap', 'error', () => undefined),
  );
  await Promise.all([createTopic(kafka, topics.since), createTopic(kafka, topics.gap)]);

  // Two hours ago: a VM started on B while A ran it (two-hosts), the kind of past --since skips.
  // Signed by the hosts' own (enrolled) keys, as agents sign with security on.
  const f = new EventForge(Date.now() - 2 * 3_600_000).signAll(topics.since);
  const past = [
    hostStarted(f, A),
    hostStarted(f, B),
    hostStarted(f, C),
    ...guestStarted(f, A, old),
    f.record(B, { type: 'guest.started', vm: old, data: { pid: 4242, paused: false } }),
  ];
  // Five minutes ago: a guest started on C and migrated to A, a story complete in itself.
  f.now = Date.now() - 5 * 60_000;
  const fresh = [
    ...guestStarted(f, C, recent),
    ...completedMigration(f, { vm: recent, migrationId: uniqueName('m'), source: C, destination: A }),
  ];
  recentEvents = fresh.length;
  enrolled.push(await enrolForge(cfg, f));
  await writeMessages(kafka, topics.since, [...past, ...fresh].map(asMessage));

  // A's events 4 to 8 (a guest started and killed) never reached the log.
  const g = new EventForge(Date.now() - 60_000).signAll(topics.gap);
  const before = [hostStarted(g, A), ...guestStarted(g, A, kept)];
  const missing = [...guestStarted(g, A, lost), ...guestKilled(g, A, lost)];
  const afterwards = guestStarted(g, A, later);
  assert.deepEqual(
    [before.at(-1)?.seq, missing[0]?.seq, missing.at(-1)?.seq, afterwards[0]?.seq],
    [3, 4, 8, 9],
    'the forge numbers each host gap-free',
  );
  gapEdges = [before.at(-1)!, afterwards[0]!];
  enrolled.push(await enrolForge(cfg, g));
  await writeMessages(kafka, topics.gap, [...before, ...afterwards].map(asMessage));
});

after(async () => {
  for (const keys of enrolled) await keys.remove();
  await deleteTopics(kafka, [topics.since, topics.gap, topics.dead]);
});

interface AuditJson {
  events: number;
  violations: Violation[];
  notes: string[];
}

async function audit(topic: string, ...args: string[]): Promise<{ status: number; out: AuditJson }> {
  const r = await ferry(
    'audit',
    'replay',
    '--topic',
    topic,
    '--dead-letter-topic',
    topics.dead,
    '--no-live',
    '--json',
    ...args,
  );
  assert.equal(r.stderr, '', 'nothing on stderr');
  return { status: r.status, out: JSON.parse(r.stdout) as AuditJson };
}

test('audit replay --since - the whole log has the old violation; from an age or a time, only what came after is read', async () => {
  const whole = await audit(topics.since);
  assert.equal(whole.status, 3, 'the old two-hosts start is a violation');
  assert.ok(
    whole.out.violations.some((v) => v.check === 'two-hosts' && v.vm === old),
    JSON.stringify(whole.out.violations),
  );
  const hourAgo = new Date(Date.now() - 3_600_000).toISOString();
  for (const since of ['1h', '90m', hourAgo]) {
    const r = await audit(topics.since, '--since', since);
    assert.equal(r.status, 0, `--since ${since}: ${JSON.stringify(r.out.violations)}`);
    assert.equal(r.out.events, recentEvents, `--since ${since} reads only the recent events`);
    assert.deepEqual(r.out.violations, []);
    assert.ok(
      r.out.notes.some((n) => n.startsWith('read from ') && n.includes('what happened before is not known')),
      JSON.stringify(r.out.notes),
    );
  }
});

test('audit replay --since - a value that is neither a time nor an age is one line and exit 2', async () => {
  for (const since of ['yesterday', '5 minutes', '10w']) {
    const r = await ferry('audit', 'replay', '--topic', topics.since, '--no-live', '--since', since);
    assert.equal(r.status, 2, `--since ${since}: ${r.stderr}`);
    assert.match(r.stderr, /is neither a time \(ISO 8601\) nor an age like 30m or 2h/);
    assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
    assert.equal(r.stdout, '');
  }
});

test('audit - events missing from a host’s seq are the log-gap violation, citing the events on either side', async () => {
  const r = await audit(topics.gap);
  assert.equal(r.status, 3);
  assert.deepEqual(
    r.out.violations.map((v) => v.check),
    ['log-gap'],
    'the gap is all that is wrong with this log',
  );
  const v = r.out.violations[0]!;
  assert.equal(v.invariant, 5);
  assert.equal(v.message, `${A}'s events jump from seq 3 to 9: 5 never reached the log`);
  assert.deepEqual(
    v.cites.map((c) => [c.host, c.seq, 'id' in c ? c.id : null]),
    gapEdges.map((e) => [A, e.seq, e.id]),
  );
  const text = await ferry(
    'audit',
    'replay',
    '--topic',
    topics.gap,
    '--dead-letter-topic',
    topics.dead,
    '--no-live',
  );
  assert.equal(text.status, 3);
  assert.match(text.stdout, new RegExp(`✗ invariant 5 log-gap: ${A}'s events jump from seq 3 to 9`));
});

test('audit - a VM filter leaves other VMs’ events out on purpose: no log-gap', async () => {
  const r = await audit(topics.gap, '--vm', kept);
  assert.equal(r.status, 0, JSON.stringify(r.out.violations));
  assert.deepEqual(r.out.violations, []);
});

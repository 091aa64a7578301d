// Malformed and unknown-version events go to the dead-letter topic with their reason and origin,
// and neither the audit's reader nor `ferry events tail` stops at them.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import type { Kafka, KafkaMessage } from 'kafkajs';
import { DEAD_HEADERS, DeadLetters } from '../events/dead-letter.ts';
import { readLog } from '../events/reader.ts';
import type { FerryEvent } from '../protocol/events.ts';
import type { Config } from '../infra/config.ts';
import { createKafka } from '../infra/kafka/bus.ts';
import { createLogger } from '../infra/logging/logger.ts';
import { asMessage, createTopic, deleteTopics, EventForge, writeMessages } from '../lab/event-forge.ts';
import { guestStarted } from '../lab/event-scenarios.ts';
import { realStack, uniqueName } from '../lab/stack.ts';

let cfg: Config;
let kafka: Kafka;
const topics: string[] = [];

before(async () => {
  cfg = await realStack();
  kafka = createKafka(
    cfg,
    'test-dead-letter',
    createLogger('test-dead-letter', 'error', () => undefined),
  );
});

after(async () => {
  await deleteTopics(kafka, topics);
});

/** A log of a valid guest start with three bad messages and a duplicate in the middle, one partition. */
async function pollutedLog(vm: string) {
  const [topic, dead] = [uniqueName('test-events'), uniqueName('test-events-dead')];
  topics.push(topic, dead);
  await createTopic(kafka, topic, 1);
  const [leased, defined, started] = guestStarted(new EventForge(), 'host-a', vm);
  const v2 = { ...defined!, version: 2, extra: 'from a newer writer' };
  const noPid = { ...started!, data: { paused: false } };
  await writeMessages(kafka, topic, [
    asMessage(leased!),
    { key: vm, value: '{"id": "half a message' },
    { key: vm, value: JSON.stringify(v2) },
    asMessage(defined!),
    { key: vm, value: JSON.stringify(noPid) },
    asMessage(defined!), // the outbox sent it twice
    asMessage(started!),
  ]);
  return { topic, dead, events: [leased!, defined!, started!] };
}

async function readAll(topic: string, count: number): Promise<KafkaMessage[]> {
  const consumer = kafka.consumer({ groupId: uniqueName('test-dead-reader') });
  const got: KafkaMessage[] = [];
  await consumer.connect();
  try {
    await consumer.subscribe({ topic, fromBeginning: true });
    await consumer.run({ eachMessage: ({ message }) => Promise.resolve(void got.push(message)) });
    const deadline = Date.now() + 20_000;
    while (got.length < count && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    return got;
  } finally {
    await consumer.disconnect();
  }
}

const header = (m: KafkaMessage, name: string) => String(m.headers?.[name] ?? '');

test('events - the reader dead-letters bad JSON, an unknown version and a schema error, and reads on', async () => {
  const vm = uniqueName('vm');
  const { topic, dead, events } = await pollutedLog(vm);
  const deadLetters = await DeadLetters.open(kafka, dead);
  const read: FerryEvent[] = [];
  const stats = await readLog(kafka, { topic, deadLetters }, (e) => read.push(e));
  await deadLetters.close();
  assert.deepEqual(
    read.map((e) => e.id),
    events.map((e) => e.id),
    'every valid event, once, the one after the bad ones included',
  );
  assert.equal(stats.duplicates, 1);
  assert.deepEqual(
    stats.rejected.map((r) => [r.offset, r.deadLettered]),
    [
      ['1', true],
      ['2', true],
      ['4', true],
    ],
  );
  const letters = await readAll(dead, 3);
  assert.equal(letters.length, 3, 'three dead letters within 20 s');
  const reasons = letters.map((m) => header(m, DEAD_HEADERS.reason));
  assert.match(reasons[0]!, /^bad JSON: /);
  assert.equal(reasons[1], 'unknown version 2 (this reader knows 1)');
  assert.match(reasons[2]!, /^schema: guest.started data.pid: /);
  for (const [i, m] of letters.entries()) {
    assert.equal(header(m, DEAD_HEADERS.topic), topic);
    assert.equal(header(m, DEAD_HEADERS.partition), '0');
    assert.equal(header(m, DEAD_HEADERS.offset), ['1', '2', '4'][i]);
    assert.equal(String(m.key), `${topic}/0/${['1', '2', '4'][i]}`);
  }
  assert.equal(String(letters[0]!.value), '{"id": "half a message', 'the message goes on unchanged');
});

test('events - ferry events tail prints the valid events and notes the dead-lettered ones', async () => {
  const vm = uniqueName('vm');
  const { topic, dead } = await pollutedLog(vm);
  const tail = spawn(
    process.execPath,
    [
      join(import.meta.dirname, '..', 'cli', 'bin.mjs'),
      'events',
      'tail',
      '--from-beginning',
      '--topic',
      topic,
      '--dead-letter-topic',
      dead,
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let out = '';
  let err = '';
  tail.stdout.on('data', (b: Buffer) => (out += b.toString()));
  tail.stderr.on('data', (b: Buffer) => (err += b.toString()));
  try {
    const deadline = Date.now() + 60_000;
    while (out.split('\n').length <= 3 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 200));
  } finally {
    tail.kill('SIGINT');
    await new Promise((r) => tail.once('exit', r));
  }
  const lines = out.trim().split('\n');
  assert.deepEqual(
    lines.map((l) => l.split(/\s+/).slice(1, 4).join(' ')),
    [`host-a ${vm} disk.leased`, `host-a ${vm} guest.defined`, `host-a ${vm} guest.started`],
    `the three valid events, each once, in order (printed within 60 s: ${JSON.stringify(out)})`,
  );
  assert.match(err, new RegExp(`${topic}/0@1 is not a valid event \\(bad JSON: .*\\); sent to ${dead}`));
  assert.match(err, /@2 is not a valid event \(unknown version 2 \(this reader knows 1\)\)/);
  assert.match(err, /@4 is not a valid event \(schema: guest.started data.pid: /);
  assert.equal((await readAll(dead, 3)).length, 3, 'three dead letters within 20 s');
});

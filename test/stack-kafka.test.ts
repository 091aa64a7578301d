import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Admin, Consumer, Kafka } from 'kafkajs';
import { createKafka, createProducer, ensureTopic } from '../infra/kafka/bus.ts';
import { realStack, uniqueName } from '../lab/stack.ts';

let kafka: Kafka;
let admin: Admin;
const topics: string[] = [];

before(async () => {
  kafka = createKafka(await realStack(), 'test-kafka');
  admin = kafka.admin();
  await admin.connect();
});

after(async () => {
  await admin.deleteTopics({ topics }).catch(() => undefined);
  await admin.disconnect();
});

async function newTopic(partitions: number): Promise<string> {
  const topic = uniqueName('test.kafka');
  topics.push(topic);
  await ensureTopic(admin, topic, partitions);
  return topic;
}

test('kafka - a message produced to a new topic is consumed back by a consumer group', async () => {
  const topic = await newTopic(1);
  const producer = createProducer(kafka);
  await producer.connect();
  const [ack] = await producer.send({ topic, messages: [{ key: 'vm-1', value: 'hello' }] });
  await producer.disconnect();
  assert.equal(ack?.errorCode, 0);

  const consumer = kafka.consumer({ groupId: uniqueName('test-group') });
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  const got = await new Promise<{ key: string; value: string }>((resolve) => {
    void consumer.run({
      eachMessage: ({ message }) => {
        resolve({ key: String(message.key), value: String(message.value) });
        return Promise.resolve();
      },
    });
  });
  await consumer.disconnect();
  assert.deepEqual(got, { key: 'vm-1', value: 'hello' });
});

test('kafka - a second consumer in the group gets partitions after a rebalance', async () => {
  const topic = await newTopic(4);
  const groupId = uniqueName('test-group');
  const assignments = new Map<string, number[]>();
  const seen = new Map<string, Set<number>>();

  const join = async (name: string): Promise<Consumer> => {
    const consumer = kafka.consumer({ groupId, sessionTimeout: 10_000, heartbeatInterval: 500 });
    consumer.on(consumer.events.GROUP_JOIN, (e) => {
      assignments.set(name, e.payload.memberAssignment[topic] ?? []);
    });
    await consumer.connect();
    await consumer.subscribe({ topic, fromBeginning: true });
    seen.set(name, new Set());
    await consumer.run({
      eachMessage: ({ partition }) => {
        seen.get(name)?.add(partition);
        return Promise.resolve();
      },
    });
    return consumer;
  };

  const first = await join('first');
  await waitFor(() => (assignments.get('first')?.length ?? 0) === 4, 'first consumer owns all 4 partitions');
  const second = await join('second');
  await waitFor(
    () => (assignments.get('second')?.length ?? 0) > 0 && (assignments.get('first')?.length ?? 0) < 4,
    'rebalance gives the second consumer partitions',
  );
  const union = [...(assignments.get('first') ?? []), ...(assignments.get('second') ?? [])].sort();
  assert.deepEqual(union, [0, 1, 2, 3], 'the two members split the partitions without overlap');

  // Messages on the second member's partitions reach the second member.
  const producer = createProducer(kafka);
  await producer.connect();
  await producer.send({
    topic,
    messages: [0, 1, 2, 3].map((partition) => ({ partition, value: `p${partition}` })),
  });
  await producer.disconnect();
  await waitFor(
    () => (seen.get('second')?.size ?? 0) === assignments.get('second')?.length,
    'second consumes',
  );
  await Promise.all([first.disconnect(), second.disconnect()]);
});

async function waitFor(check: () => boolean, what: string, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) assert.fail(`timed out waiting until ${what}`);
    await sleep(100);
  }
}

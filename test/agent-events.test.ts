// exclusive: stops the shared Kafka.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Kafka } from 'kafkajs';
import { parseEvent, type FerryEvent } from '../protocol/events.ts';
import { Outbox } from '../hosts/outbox/outbox.ts';
import { Shipper } from '../hosts/outbox/shipper.ts';
import type { Config } from '../infra/config.ts';
import { createKafka } from '../infra/kafka/bus.ts';
import { createLogger } from '../infra/logging/logger.ts';
import { startService, stopService } from '../infra/stack/stack.ts';
import { realStack, uniqueName } from '../lab/stack.ts';

let cfg: Config;
let kafka: Kafka;
const topic = uniqueName('test.events');
const host = uniqueName('host');
const dir = mkdtempSync(join(tmpdir(), 'ferry-agent-events-'));
const log = createLogger('test-shipper', 'error');

before(async () => {
  cfg = await realStack();
  // The outage below is deliberate: its connection errors are expected, the assertions judge.
  kafka = createKafka(
    cfg,
    'test-agent-events',
    createLogger('test-agent-events', 'error', () => undefined),
  );
});

after(async () => {
  const admin = kafka.admin();
  await admin.connect();
  await admin.deleteTopics({ topics: [topic] }).catch(() => undefined);
  await admin.disconnect();
  rmSync(dir, { recursive: true, force: true });
});

const event = (i: number) => ({
  type: 'guest.paused' as const,
  vm: `vm-${i % 3}`,
  data: { reason: `step ${i}` },
});

/** Every event of this test's host in the topic, validated, in partition order. */
async function readAll(expected: number): Promise<FerryEvent[]> {
  const consumer = kafka.consumer({ groupId: uniqueName('test-reader') });
  const got: FerryEvent[] = [];
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  await consumer.run({
    eachMessage: ({ message }) => {
      const e = parseEvent(JSON.parse(String(message.value)));
      if (e.host === host) got.push(e);
      return Promise.resolve();
    },
  });
  const deadline = Date.now() + 60_000;
  while (new Set(got.map((e) => e.id)).size < expected) {
    assert.ok(Date.now() < deadline, `${expected} events of ${host} within 60 s (${got.length} read)`);
    await sleep(100);
  }
  await sleep(500); // late duplicates, if any, arrive too
  await consumer.disconnect();
  return got;
}

test('agent events - events recorded while Kafka is down and the agent dies reach Kafka once each after both return', async () => {
  let outbox = new Outbox(dir, host);
  let shipper = new Shipper(kafka, outbox, log, topic);
  shipper.start();
  const recorded: FerryEvent[] = [];
  for (let i = 0; i < 10; i++) recorded.push(outbox.record(event(i)));
  assert.ok(await shipper.drain(30_000), 'the first events reach Kafka while it is up');

  await stopService(cfg, 'kafka', () => undefined);
  try {
    for (let i = 10; i < 25; i++) recorded.push(outbox.record(event(i)));
    await sleep(1500);
    assert.equal(outbox.backlog, 15, 'nothing is acknowledged while Kafka is down');
    // The agent dies: nothing is flushed or acknowledged on the way out.
    await Promise.race([shipper.stop(), sleep(2000)]);
    outbox.close();
  } finally {
    await startService(cfg, 'kafka', () => undefined);
  }

  outbox = new Outbox(dir, host);
  assert.equal(outbox.backlog, 15, 'the restarted agent finds the unshipped events on disk');
  shipper = new Shipper(kafka, outbox, log, topic);
  shipper.start();
  assert.ok(await shipper.drain(60_000), 'the backlog is shipped after Kafka returns');
  await shipper.stop();
  outbox.close();

  const got = await readAll(recorded.length);
  const unique = new Map(got.map((e) => [e.id, e]));
  assert.deepEqual(
    [...unique.keys()].sort(),
    recorded.map((e) => e.id).sort(),
    'every event, once after de-duplication',
  );
  for (const vm of ['vm-0', 'vm-1', 'vm-2']) {
    const seqs = got.filter((e) => e.vm === vm).map((e) => e.seq);
    const firstSeen = seqs.filter((s, i) => seqs.indexOf(s) === i);
    assert.deepEqual(
      firstSeen,
      [...firstSeen].sort((a, b) => a - b),
      `${vm}'s events keep their order`,
    );
  }
});

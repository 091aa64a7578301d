// `ferry events tail --vm VM`: follows the event log showing only that VM's events, in log order,
// without the hosts' own starts and stops; `--json` prints each as its JSON; Ctrl-C ends it with
// exit 0. Read from a topic of the test's own, written with events stamped as an outbox stamps them.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import type { Kafka } from 'kafkajs';
import { createKafka } from '../infra/kafka/bus.ts';
import { createLogger } from '../infra/logging/logger.ts';
import type { FerryEvent } from '../protocol/events.ts';
import { ferry } from '../lab/cli.ts';
import { asMessage, createTopic, deleteTopics, EventForge, writeMessages } from '../lab/event-forge.ts';
import { guestKilled, guestStarted, hostStarted } from '../lab/event-scenarios.ts';
import { realStack, uniqueName } from '../lab/stack.ts';

let kafka: Kafka;
const topics: string[] = [];

before(async () => {
  kafka = createKafka(
    await realStack(),
    'test-events-tail',
    createLogger('test-events-tail', 'error', () => undefined),
  );
});

after(async () => {
  await deleteTopics(kafka, topics);
});

/** `ferry events tail ...args` until `done(stdout)` holds (30 s at most), then Ctrl-C. */
async function tail(args: string[], done: (out: string) => boolean) {
  const child = spawn(
    process.execPath,
    [join(import.meta.dirname, '..', 'cli', 'bin.mjs'), 'events', 'tail', ...args],
    {
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let out = '';
  let err = '';
  child.stdout.on('data', (b: Buffer) => (out += b.toString()));
  child.stderr.on('data', (b: Buffer) => (err += b.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const deadline = Date.now() + 30_000;
  while (!done(out) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
  const finished = done(out);
  child.kill('SIGINT');
  const status = await exited;
  assert.ok(finished, `tail did not print what was awaited within 30 s: ${out}\n${err}`);
  return { out, err, status };
}

test('events tail --vm - only that VM, in log order, without host events; --json; Ctrl-C exits 0', async () => {
  const [topic, dead] = [uniqueName('test-tail'), uniqueName('test-tail-dead')];
  topics.push(topic, dead);
  await createTopic(kafka, topic, 3);
  const [mine, other] = [uniqueName('vm-mine'), uniqueName('vm-other')];
  const f = new EventForge();
  // Interleaved, over several partitions (keyed by VM) and two hosts.
  const events: FerryEvent[] = [
    hostStarted(f, 'host-a'),
    ...guestStarted(f, 'host-a', mine),
    ...guestStarted(f, 'host-b', other),
    hostStarted(f, 'host-b'),
    guestKilled(f, 'host-b', other)[0]!,
    guestKilled(f, 'host-a', mine)[0]!,
  ];
  await writeMessages(kafka, topic, events.map(asMessage));
  const expected = events.filter((e) => e.vm === mine);
  assert.ok(expected.length >= 4, 'the scenario gives the VM a few events');
  const lines = (out: string) => out.split('\n').filter((l) => l.trim() !== '');

  const json = await tail(
    ['--vm', mine, '--from-beginning', '--json', '--topic', topic, '--dead-letter-topic', dead],
    (out) => lines(out).length >= expected.length,
  );
  assert.equal(json.status, 0, json.err);
  // A moment more could have brought a stray line: every line printed is the VM's, in order.
  assert.deepEqual(
    lines(json.out).map((l) => (JSON.parse(l) as FerryEvent).id),
    expected.map((e) => e.id),
  );

  const text = await tail(
    ['--vm', mine, '--from-beginning', '--topic', topic, '--dead-letter-topic', dead],
    (out) => lines(out).length >= expected.length,
  );
  assert.equal(text.status, 0, text.err);
  assert.deepEqual(
    lines(text.out).map((l) => l.split(/\s+/).slice(1, 4).join(' ')),
    expected.map((e) => `${e.host} ${mine} ${e.type}`),
  );
  assert.match(text.err, new RegExp(`following ${topic} from its beginning`));
});

test('events tail --vm - a bad VM name is one line and exit 2', async () => {
  const r = await ferry('events', 'tail', '--vm', 'Not A VM');
  assert.equal(r.status, 2);
  assert.match(r.stderr, /invalid input: vms\.0: /);
  assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
  assert.equal(r.stdout, '');
});

// Events made up for tests and benchmarks, stamped as an outbox stamps them (id, version, time,
// per-host gap-free seq) on a clock of their own, signed when the forge holds the host's key, and
// written to a topic of the test's own.
import { createHash, createPrivateKey, randomUUID } from 'node:crypto';
import type { Kafka, Message } from 'kafkajs';
import { EventSigner } from '../protocol/event-signature.ts';
import { EVENT_VERSION, type EventInput, type FerryEvent } from '../protocol/events.ts';
import { createProducer, ensureTopic } from '../infra/kafka/bus.ts';
import type { EventKeys } from '../infra/redis/event-keys.ts';

/** PKCS#8 DER of an Ed25519 key, up to its 32-byte seed (RFC 8410). */
const ED25519_PKCS8_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex');

/** An Ed25519 signing key made from a name, the same every run (tests want no unseeded randomness). */
export function seededSigner(seed: string): EventSigner {
  const secret = createHash('sha256').update(`ferry test key: ${seed}`).digest();
  const key = createPrivateKey({
    key: Buffer.concat([ED25519_PKCS8_PREFIX, secret]),
    format: 'der',
    type: 'pkcs8',
  });
  return new EventSigner(key.export({ type: 'pkcs8', format: 'pem' }));
}

export class EventForge {
  private readonly seqs = new Map<string, number>();
  /** Publishers whose events the forge signs, by host name. */
  readonly signers = new Map<string, EventSigner>();
  /** Set by signAll: every publisher gets a key seeded by this and its name on first use. */
  private seed: string | undefined;

  /**
   * Signs every publisher's events, as agents and controllers do with security on, with keys of
   * the forge's own (seeded by `seed`, e.g. the test's topic, and the name); `enrol` registers them.
   */
  signAll(seed: string): this {
    this.seed = seed;
    return this;
  }

  /**
   * Registers the keys of the publishers the forge has signed for: a name in `controllers` (the
   * controller's outbox names) as a controller, any other as a host. Returns the key ids (to remove).
   */
  async enrol(keys: EventKeys, controllers: readonly string[] = ['controller']): Promise<string[]> {
    const ids: string[] = [];
    for (const [name, signer] of this.signers) {
      const role = controllers.includes(name) ? 'controller' : 'host';
      const publicKeyPem = signer.publicKey.export({ type: 'spki', format: 'pem' }).toString();
      ids.push(await keys.register({ role, name, publicKeyPem }));
    }
    return ids;
  }

  constructor(public now = Date.UTC(2026, 0, 1, 9)) {}

  /** Stamps `input` as recorded by `host`, `afterMs` after the previous event. */
  record(host: string, input: EventInput, afterMs = 1): FerryEvent {
    this.now += afterMs;
    const seq = this.seqs.get(host) ?? 0;
    this.seqs.set(host, seq + 1);
    const event: FerryEvent = {
      id: randomUUID(),
      version: EVENT_VERSION,
      time: new Date(this.now).toISOString(),
      host,
      seq,
      migrationId: null,
      ...input,
    };
    if (this.seed !== undefined && !this.signers.has(host)) {
      this.signers.set(host, seededSigner(`${this.seed}/${host}`));
    }
    return this.signers.get(host)?.sign(event) ?? event;
  }
}

/** How a shipper writes an event: keyed by VM (or host), JSON value. */
export function asMessage(e: FerryEvent): Message {
  return { key: e.vm ?? `host:${e.host}`, value: JSON.stringify(e) };
}

/** A topic of the caller's, with the event log's partitioning. */
export async function createTopic(kafka: Kafka, topic: string, partitions = 6): Promise<void> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    await ensureTopic(admin, topic, partitions);
  } finally {
    await admin.disconnect();
  }
}

export async function deleteTopics(kafka: Kafka, topics: string[]): Promise<void> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    const existing = new Set(await admin.listTopics());
    const gone = topics.filter((t) => existing.has(t));
    if (gone.length > 0) await admin.deleteTopics({ topics: gone });
  } finally {
    await admin.disconnect();
  }
}

/** Writes messages in order (one producer, one request at a time). */
export async function writeMessages(kafka: Kafka, topic: string, messages: Message[]): Promise<void> {
  const producer = createProducer(kafka);
  await producer.connect();
  try {
    await producer.send({ topic, messages });
  } finally {
    await producer.disconnect();
  }
}

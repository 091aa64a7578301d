// ferry's topics and the one place that creates them. The event log is the audit record: if it is
// missing, something lost it, and an agent that recreated it empty would hide that. So agents and
// readers only require it (requireTopic); `ferry stack up` (the admin) creates it, with its
// retention and replication spelled out instead of inherited from whatever broker defaults apply.
import type { Admin, ITopicConfig } from 'kafkajs';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Config } from '../config.ts';
import { KafkaTopicMissingError } from './errors.ts';
import { ConfigResourceTypes, ConfigSource } from './kafkajs-enums.ts';

/** One topic for the event log, keyed by VM id so each VM's events keep their order. */
export const EVENTS_TOPIC = 'ferry.events';
export const EVENTS_PARTITIONS = 6;
/** Where readers put what they could not take as an event (one partition: small, read in order). */
export const DEAD_LETTER_TOPIC = 'ferry.events.dead';

export interface TopicSpec {
  topic: string;
  partitions: number;
}

export const FERRY_TOPICS: readonly TopicSpec[] = [
  { topic: EVENTS_TOPIC, partitions: EVENTS_PARTITIONS },
  { topic: DEAD_LETTER_TOPIC, partitions: 1 },
];

/** The settings ferry's topics carry explicitly: never deleted by age, and how many copies must ack. */
export function topicConfig(cfg: Config): { name: string; value: string }[] {
  return [
    { name: 'retention.ms', value: '-1' },
    { name: 'min.insync.replicas', value: String(cfg.kafka.minInsyncReplicas) },
  ];
}

/**
 * Creates whichever of `specs` is missing with topicConfig, and gives an existing one the same
 * settings if it lacks them (a topic an older ferry created with the broker's defaults); then waits
 * for every partition's leader. Only the stack's admin calls it.
 */
export async function provisionTopics(
  admin: Admin,
  cfg: Config,
  specs: readonly TopicSpec[] = FERRY_TOPICS,
  log: (line: string) => void = () => undefined,
): Promise<void> {
  const existing = new Set(await admin.listTopics());
  const wanted = topicConfig(cfg);
  const missing: ITopicConfig[] = specs
    .filter((s) => !existing.has(s.topic))
    .map((s) => ({
      topic: s.topic,
      numPartitions: s.partitions,
      replicationFactor: cfg.kafka.replicationFactor,
      configEntries: wanted,
    }));
  if (missing.length > 0) {
    log(`kafka: creating ${missing.map((t) => t.topic).join(', ')}`);
    await admin.createTopics({ topics: missing, waitForLeaders: true });
  }
  const present = specs.filter((s) => existing.has(s.topic)).map((s) => s.topic);
  if (present.length > 0) {
    const described = await admin.describeConfigs({
      includeSynonyms: false,
      resources: present.map((name) => ({
        type: ConfigResourceTypes.TOPIC,
        name,
        configNames: wanted.map((w) => w.name),
      })),
    });
    for (const resource of described.resources) {
      // Set on the topic itself, not a broker default that happens to match (and may change).
      const own = resource.configEntries.filter((e) => e.configSource === ConfigSource.TOPIC_CONFIG);
      const has = new Map(own.map((e) => [e.configName, e.configValue]));
      if (wanted.every((w) => has.get(w.name) === w.value)) continue;
      log(
        `kafka: setting ${wanted.map((w) => `${w.name}=${w.value}`).join(' ')} on ${resource.resourceName}`,
      );
      // AlterConfigs replaces the topic's whole dynamic config: these are the only ones ferry sets.
      await admin.alterConfigs({
        validateOnly: false,
        resources: [{ type: ConfigResourceTypes.TOPIC, name: resource.resourceName, configEntries: wanted }],
      });
    }
  }
  for (const s of specs) await waitForLeaders(admin, s.topic, s.partitions);
}

/**
 * Waits until `topic` exists with a leader for each partition; a missing topic is refused with one
 * line (KafkaTopicMissingError), never created: only provisionTopics creates ferry's topics.
 */
export async function requireTopic(admin: Admin, topic: string, timeoutMs = 30_000): Promise<void> {
  if (!(await admin.listTopics()).includes(topic)) {
    throw new KafkaTopicMissingError(`Kafka has no topic ${topic}`, {
      hint:
        '`ferry stack up` creates it (on a Kafka cluster ferry did not start, its admin does, see docs/kafka.md); ' +
        'nothing else does, so a lost event log is noticed instead of replaced by an empty one',
    });
  }
  await waitForLeaders(admin, topic, 1, timeoutMs);
}

/** A produce to a partition whose leader is not yet known fails in kafkajs ("does not host this topic-partition"). */
export async function waitForLeaders(
  admin: Admin,
  topic: string,
  partitions: number,
  timeoutMs = 30_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const meta = await admin.fetchTopicMetadata({ topics: [topic] }).catch(() => undefined);
    const parts = meta?.topics[0]?.partitions ?? [];
    if (parts.length >= partitions && parts.every((p) => p.leader >= 0)) return;
    if (Date.now() > deadline) throw new Error(`topic ${topic} has no leader after ${timeoutMs} ms`);
    await sleep(100);
  }
}

// The smoke activities: one real write to each of Kafka and Redis, so `npm start` proves the
// whole stack end to end before there are migrations to show.
import type { Producer } from 'kafkajs';
import type { Redis } from 'ioredis';
import { loadScript } from '../infra/redis/scripts.ts';

export const SMOKE_TOPIC = 'ferry.smoke';

export interface SmokeDeps {
  producer: Producer;
  redis: Redis;
}

export interface PublishedEvent {
  type: string;
  topic: string;
  partition: number;
  offset: string;
}

export interface LeaseRecord {
  key: string;
  token: number;
  ttlMs: number;
  released: boolean;
}

export function createSmokeActivities(deps: SmokeDeps) {
  const take = loadScript(deps.redis, 'lease-take');
  const release = loadScript(deps.redis, 'lease-release');
  return {
    async publishSmokeEvent(runId: string): Promise<PublishedEvent> {
      const event = { type: 'smoke.pinged', version: 1, runId, at: new Date().toISOString() };
      const [meta] = await deps.producer.send({
        topic: SMOKE_TOPIC,
        messages: [{ key: runId, value: JSON.stringify(event) }],
      });
      if (!meta) throw new Error('Kafka acknowledged no record');
      return {
        type: event.type,
        topic: SMOKE_TOPIC,
        partition: meta.partition,
        offset: meta.baseOffset ?? '?',
      };
    },
    async takeSmokeLease(runId: string): Promise<LeaseRecord> {
      const key = `ferry:smoke:lease:${runId}`;
      const ttlMs = 30_000;
      const token = await take([key, `${key}:fence`], [runId, ttlMs]);
      if (typeof token !== 'number') throw new Error(`lease ${key} is held by someone else`);
      const released = (await release([key], [runId, token])) === 1;
      await deps.redis.del(`${key}:fence`);
      return { key, token, ttlMs, released };
    },
  };
}

export type SmokeActivities = ReturnType<typeof createSmokeActivities>;

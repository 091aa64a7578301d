// A reader that follows the event log as it grows (`ferry events tail`): the same intake as the
// audit's reader (validation, dedupe, dead letters) on a consumer that never ends by itself. A bad
// message is dead-lettered and reported; the follower goes on.
import { randomUUID } from 'node:crypto';
import type { Kafka } from 'kafkajs';
import type { DeadLetters, Rejected } from './dead-letter.ts';
import { talkingToKafka } from './errors.ts';
import { IdMemory, takeMessage, type Scope } from './intake.ts';
import type { FerryEvent } from '../protocol/events.ts';
import type { Unverified } from './unverified.ts';
import type { EventVerifier } from './signatures.ts';

/** A follower runs for days: it remembers the ids of the last this-many events to drop copies. */
const REMEMBERED_IDS = 100_000;

export interface FollowOptions extends Omit<Scope, 'sinceMs'> {
  topic: string;
  fromBeginning: boolean;
  deadLetters?: DeadLetters;
  /** Checks each event's signature; an event it does not vouch for goes to `on.unverified`. */
  verifier?: EventVerifier;
}

export interface FollowHandlers {
  event(e: FerryEvent): void;
  rejected(r: Rejected): void;
  unverified?(u: Unverified): void;
}

export interface Follower {
  stop(): Promise<void>;
}

export function followLog(kafka: Kafka, opts: FollowOptions, on: FollowHandlers): Promise<Follower> {
  return talkingToKafka(`following ${opts.topic}`, () => follow(kafka, opts, on));
}

async function follow(kafka: Kafka, opts: FollowOptions, on: FollowHandlers): Promise<Follower> {
  const seen = new IdMemory(REMEMBERED_IDS);
  const scope: Scope = {
    ...(opts.vms ? { vms: opts.vms } : {}),
    ...(opts.hostEvents !== undefined ? { hostEvents: opts.hostEvents } : {}),
  };
  const consumer = kafka.consumer({ groupId: `ferry-tail-${randomUUID()}`, maxWaitTimeInMs: 250 });
  await consumer.connect();
  try {
    await consumer.subscribe({ topic: opts.topic, fromBeginning: opts.fromBeginning });
    await consumer.run({
      autoCommit: false,
      eachMessage: async ({ partition, message }) => {
        const taken = takeMessage(message, scope, seen, opts.verifier);
        if (taken.kind === 'event') on.event(taken.event);
        if (taken.kind === 'unverified') {
          const { unsigned, reason, event: e } = taken;
          const claims = { host: e.host, seq: e.seq, id: e.id, type: e.type, time: e.time };
          on.unverified?.({ topic: opts.topic, partition, offset: message.offset, unsigned, reason, claims });
        }
        if (taken.kind !== 'rejected') return;
        const origin = { topic: opts.topic, partition, offset: message.offset };
        const deadLettered = opts.deadLetters
          ? await opts.deadLetters.send(origin, message, taken.reason)
          : false;
        on.rejected({ ...origin, reason: taken.reason, deadLettered });
      },
    });
  } catch (err) {
    await consumer.disconnect().catch(() => undefined);
    throw err;
  }
  return { stop: () => consumer.disconnect() };
}

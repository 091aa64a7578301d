// The replay benchmark's log: a cluster's history as its agents and controller would record it.
// Hosts start, guests start on them, then round after round many VMs migrate at once (most
// complete, some are refused at Prepare for memory, some are aborted during Perform), now and then
// an operator replaces a guest. Each round's events are interleaved by time and numbered per host
// in time order, as outboxes number them. Written in big uncompressed batches, several in flight.
import type { Kafka, Message } from 'kafkajs';
import { Partitioners } from 'kafkajs';
import type { FerryEvent } from '../protocol/events.ts';
import { asMessage, EventForge } from '../lab/event-forge.ts';
import {
  abortedMigration,
  completedMigration,
  guestKilled,
  guestStarted,
  hostStarted,
  refusedMigration,
} from '../lab/event-scenarios.ts';

export interface LogShape {
  hosts: number;
  vms: number;
  /** Migrations running at once in a round. */
  concurrent: number;
}

export const DEFAULT_SHAPE: LogShape = { hosts: 40, vms: 4000, concurrent: 64 };
// A batch per partition must stay under the broker's message.max.bytes (1 MiB): ~6000 events of ~450 B over 6 partitions.
const BATCH = 6000;
const IN_FLIGHT = 6;

/** A seeded PRNG (mulberry32): the same log every run. */
function prng(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Sorts a round's events by time and numbers them per host in that order, from `seqs`. */
function stamp(events: FerryEvent[], seqs: Map<string, number>): FerryEvent[] {
  events.sort((a, b) => (a.time < b.time ? -1 : a.time > b.time ? 1 : 0));
  for (const e of events) {
    const seq = seqs.get(e.host) ?? 0;
    seqs.set(e.host, seq + 1);
    e.seq = seq;
  }
  return events;
}

export interface WrittenLog {
  events: number;
  migrations: number;
  outcomes: Record<'completed' | 'refused' | 'aborted', number>;
}

export async function writeReplayLog(
  kafka: Kafka,
  topic: string,
  atLeast: number,
  shape: LogShape = DEFAULT_SHAPE,
): Promise<WrittenLog> {
  const random = prng(20261123);
  const pick = <T>(xs: readonly T[]) => xs[Math.floor(random() * xs.length)]!;
  const hosts = Array.from({ length: shape.hosts }, (_, i) => `bench-h${String(i).padStart(2, '0')}`);
  const where = new Map<string, string>();
  const seqs = new Map<string, number>();
  let clock = Date.UTC(2026, 0, 1);
  let vmCounter = 0;
  const written: WrittenLog = {
    events: 0,
    migrations: 0,
    outcomes: { completed: 0, refused: 0, aborted: 0 },
  };

  const producer = kafka.producer({
    allowAutoTopicCreation: false,
    createPartitioner: Partitioners.DefaultPartitioner,
  });
  await producer.connect();
  const pending = new Set<Promise<unknown>>();
  let buffer: Message[] = [];
  const flush = async (all: boolean) => {
    if (buffer.length > 0) {
      const p = producer.send({ topic, messages: buffer }).finally(() => pending.delete(p));
      pending.add(p);
      buffer = [];
    }
    while (pending.size >= (all ? 1 : IN_FLIGHT)) await Promise.race(pending);
  };
  const emit = async (events: FerryEvent[]) => {
    for (const e of stamp(events, seqs)) buffer.push(asMessage(e));
    written.events += events.length;
    if (buffer.length >= BATCH) await flush(false);
  };

  try {
    const start = new EventForge(clock);
    const setup = hosts.map((h, i) => hostStarted(start, h, `127.0.1.${i}:40000`));
    for (let i = 0; i < shape.vms; i++) {
      const vm = `bench-vm-${vmCounter++}`;
      const host = pick(hosts);
      where.set(vm, host);
      setup.push(...guestStarted(start, host, vm, { memoryMiB: pick([64, 96, 128, 256, 512]) }));
    }
    await emit(setup);
    clock = start.now + 1000;

    while (written.events < atLeast) {
      const round: FerryEvent[] = [];
      const vms = [...where.keys()];
      const busy = new Set<string>();
      for (let k = 0; k < shape.concurrent; k++) {
        const vm = pick(vms);
        if (busy.has(vm)) continue;
        busy.add(vm);
        const source = where.get(vm)!;
        let destination = pick(hosts);
        while (destination === source) destination = pick(hosts);
        // Each migration on its own clock within the round, so the round's events interleave.
        const f = new EventForge(clock + Math.floor(random() * 2000));
        const s = {
          vm,
          migrationId: `m-${vm}-${written.migrations}`,
          source,
          destination,
          ramParts: 2 + Math.floor(random() * 12),
          passes: Math.floor(random() * 5),
          token: 2 + written.migrations,
        };
        const r = random();
        written.migrations++;
        if (r < 0.85) {
          round.push(...completedMigration(f, s));
          where.set(vm, destination);
          written.outcomes.completed++;
        } else if (r < 0.93) {
          round.push(...refusedMigration(f, s));
          written.outcomes.refused++;
        } else {
          round.push(...abortedMigration(f, s));
          written.outcomes.aborted++;
        }
      }
      // Now and then an operator replaces a guest that is not migrating.
      if (random() < 0.2) {
        const vm = pick(vms);
        if (!busy.has(vm)) {
          const f = new EventForge(clock + 2500);
          const host = where.get(vm)!;
          round.push(...guestKilled(f, host, vm));
          where.delete(vm);
          const fresh = `bench-vm-${vmCounter++}`;
          const to = pick(hosts);
          where.set(fresh, to);
          round.push(...guestStarted(f, to, fresh));
        }
      }
      await emit(round);
      clock += 5000;
    }
    await flush(true);
    return written;
  } finally {
    await Promise.allSettled(pending);
    await producer.disconnect();
  }
}

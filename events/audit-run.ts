// `ferry audit replay` without the printing: read the log (validated, deduplicated, bad messages
// dead-lettered), fold it in order through the audit, read the live system for the same scope,
// conclude the invariants and name each difference between the rebuilt and the live state.
//
// Memory: the stream events (savevm sections, statuses, passes, tunnel ends: most of a log) only
// add to their migration's timeline whatever their order, so they are folded as they arrive and
// not kept; only the lifecycle events wait to be ordered.
import type { Client } from '@temporalio/client';
import type { Config } from '../infra/config.ts';
import { FerryError } from '../errors/ferry-error.ts';
import { createKafka } from '../infra/kafka/bus.ts';
import { createLogger } from '../infra/logging/logger.ts';
import { createRedis } from '../infra/redis/client.ts';
import { EventKeys, type EventKey } from '../infra/redis/event-keys.ts';
import { connectClient } from '../infra/temporal/connect.ts';
import { Auditor } from './audit.ts';
import { compareWithLive, liveScopeOf, type Difference } from './compare.ts';
import { DEAD_LETTER_TOPIC, DeadLetters, type Rejected } from './dead-letter.ts';
import { readLive, type LiveState } from './live.ts';
import { isOrderFree } from './migrations.ts';
import { inOrder } from './order.ts';
import type { ClusterState } from './projection.ts';
import { readLog, type Unverified } from './reader.ts';
import { EVENTS_TOPIC, type FerryEvent } from '../protocol/events.ts';
import { SeqIndex, type SeqGap } from './seq-index.ts';
import { EventVerifier } from './signatures.ts';
import { violation, type Violation } from './violations.ts';

/** The audit must verify signatures and cannot read the keys. */
export class EventKeysUnreadable extends FerryError {
  readonly code = 'EVENT_KEYS_UNREADABLE';
}

export interface AuditRunOptions {
  topic?: string;
  deadLetterTopic?: string;
  since?: Date;
  /** Only these VMs (their events, the hosts they touched, their disks and jobs). */
  vms?: string[];
  /** Compare with the live system (default); off for logs that are not this cluster's. */
  live?: boolean;
  /** Every event must be signed; default: security on (cfg.security.enabled). */
  requireSignatures?: boolean;
  /** The publishers' keys by id; default: the registry in Redis. */
  eventKeys?: ReadonlyMap<string, EventKey>;
}

export interface AuditReport {
  topic: string;
  /** Distinct valid events read. */
  events: number;
  duplicates: number;
  rejected: Rejected[];
  state: ClusterState;
  violations: Violation[];
  gaps: SeqGap[];
  /** Events not taken because their signature does not vouch for them: the first 100 of each kind. */
  unverified: Unverified[];
  /** How many events were not taken for their signature, listed or not (each is in a violation). */
  unverifiedCount: number;
  /** Null when the live comparison was not asked for. */
  differences: Difference[] | null;
  matchesLive: boolean | null;
  /** What limited the audit (Temporal unreachable, a partial log). */
  notes: string[];
}

export async function runAudit(cfg: Config, opts: AuditRunOptions = {}): Promise<AuditReport> {
  const topic = opts.topic ?? EVENTS_TOPIC;
  const quiet = createLogger('ferry-audit', 'error', () => undefined);
  const kafka = createKafka(cfg, 'ferry-audit', quiet);
  const deadLetters = await DeadLetters.open(kafka, opts.deadLetterTopic ?? DEAD_LETTER_TOPIC);
  const auditor = new Auditor();
  const seqs = new SeqIndex();
  const lifecycle: FerryEvent[] = [];
  const vms = opts.vms && opts.vms.length > 0 ? new Set(opts.vms) : undefined;
  const notes: string[] = [];
  const verifier = await eventVerifier(cfg, opts, notes);
  let stats;
  try {
    stats = await readLog(
      kafka,
      {
        topic,
        deadLetters,
        dedupe: seqs,
        ...(verifier ? { verifier } : {}),
        ...(opts.since ? { since: opts.since } : {}),
        ...(vms ? { vms } : {}),
      },
      (e) => {
        if (isOrderFree(e)) auditor.observe(e);
        else lifecycle.push(e);
      },
    );
  } finally {
    await deadLetters.close();
  }
  for (const e of inOrder(lifecycle)) auditor.observe(e);

  // Holes in a host's seq mean lost events, unless a VM filter left them out on purpose.
  const gaps = vms ? [] : seqs.gaps();
  if (opts.since) notes.push(`read from ${opts.since.toISOString()}: what happened before is not known`);
  let live: LiveState | null = null;
  if (opts.live !== false) {
    live = await readLiveState(cfg, liveScopeOf(auditor.state, vms), notes);
  }
  const owners = new Set(live?.jobs.map((j) => j.owner));
  const violations = auditor.conclude({
    inFlight: (id) => owners.has(id) || (live?.runningWorkflows?.has(id) ?? false),
    partial: opts.since !== undefined,
  });
  for (const g of gaps) {
    violations.push(
      violation(
        'log-gap',
        {},
        `${g.host}'s events jump from seq ${g.after.seq} to ${g.before.seq}: ${g.missing} never reached the log`,
        [g.after, g.before],
      ),
    );
  }
  // A host's first event is seq 0: a whole log that starts later for a host has lost its start.
  if (!vms && !opts.since) {
    for (const first of seqs.firsts()) {
      if (first.seq === 0) continue;
      violations.push(
        violation(
          'log-start',
          {},
          `${first.host}'s first event in the log is seq ${first.seq}, not 0: its first ${first.seq} events are not in the log (deleted, in a topic since recreated, or never shipped)`,
          [first],
        ),
      );
    }
  }
  violations.push(...stats.unverified.violations());
  const differences = live ? compareWithLive(auditor.state, live, opts.since === undefined) : null;
  return {
    topic,
    events: stats.events,
    duplicates: stats.duplicates,
    rejected: stats.rejected,
    state: auditor.state,
    violations,
    gaps,
    unverified: stats.unverified.listed,
    unverifiedCount: stats.unverified.total,
    differences,
    matchesLive: differences ? differences.length === 0 : null,
    notes,
  };
}

async function readLiveState(
  cfg: Config,
  scope: ReturnType<typeof liveScopeOf>,
  notes: string[],
): Promise<LiveState> {
  const redis = createRedis(cfg, 'ferry-audit');
  let temporal: Client | null = null;
  try {
    temporal = await connectClient(cfg).catch(() => null);
    const live = await readLive(redis, scope, temporal);
    if (!live.runningWorkflows) {
      notes.push('Temporal unreachable: a migration counts as in flight only while it has a job');
    }
    return live;
  } finally {
    redis.disconnect();
    await temporal?.connection.close().catch(() => undefined);
  }
}

/**
 * The verifier of the events' signatures, with the registered keys. Without the registry (Redis
 * unreachable) an audit that requires signatures cannot run; one that does not goes on without
 * checking them, and says so.
 */
async function eventVerifier(
  cfg: Config,
  opts: AuditRunOptions,
  notes: string[],
): Promise<EventVerifier | undefined> {
  const required = opts.requireSignatures ?? cfg.security.enabled;
  if (opts.eventKeys) return new EventVerifier(opts.eventKeys, required);
  const redis = createRedis(cfg, 'ferry-audit');
  try {
    const { keys, unreadable } = await new EventKeys(redis).all();
    if (unreadable.length > 0) {
      notes.push(`event keys not readable in the registry (not trusted): ${unreadable.join(', ')}`);
    }
    return new EventVerifier(keys, required);
  } catch (err) {
    if (required) {
      throw new EventKeysUnreadable(
        `cannot read the event keys from Redis to verify the events' signatures: ${(err as Error).message}`,
        { cause: err, hint: 'is Redis up (`ferry stack status`)?' },
      );
    }
    notes.push(`signatures not checked: the event keys in Redis are unreachable (${(err as Error).message})`);
    return undefined;
  } finally {
    redis.disconnect();
  }
}

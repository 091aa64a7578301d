// ferry's events: one versioned envelope, one zod schema per event type, a union keyed on `type`.
// Everything read back from Kafka is parsed with `parseEvent`; anything that fails is not an
// event of ours (later: it goes to the dead-letter topic).
import { z } from 'zod';

export const EVENT_VERSION = 1;
/** One topic for the event log, keyed by VM id so each VM's events keep their order. */
export const EVENTS_TOPIC = 'ferry.events';
export const EVENTS_PARTITIONS = 6;

const vmName = z.string().regex(/^[a-z0-9][a-z0-9._-]{0,62}$/, 'lower-case letters, digits, . _ - (max 63)');

const envelope = {
  /** Unique per event; readers drop duplicates by it (delivery is at least once). */
  id: z.uuid(),
  version: z.literal(EVENT_VERSION),
  time: z.iso.datetime(),
  host: z.string().min(1),
  /** Per host, gap-free, in the order the agent recorded them. */
  seq: z.number().int().nonnegative(),
  vm: vmName.nullable(),
  migrationId: z.string().min(1).nullable(),
  /**
   * The publisher's Ed25519 signature (protocol/event-signature.ts). Optional, so the envelope stays
   * version 1 both ways: a reader that predates it strips it (zod drops unknown keys) and accepts
   * the event, and this reader accepts an event written before it (the audit decides whether an
   * unsigned event is allowed: with security on it is a violation). Its fields are only bounded
   * here, not judged: a signature that is malformed is a forged event the audit names, not a
   * message to dead-letter unread.
   */
  sig: z
    .object({
      /** 'ed25519'; anything else is not ours to verify, and the audit says so. */
      alg: z.string().max(32),
      /** The signing key's id: the first 16 hex digits of the SHA-256 of its public key (SPKI DER). */
      key: z.string().max(64),
      /** The 64-byte signature, base64url without padding. */
      value: z.string().max(256),
    })
    .optional(),
};

const guestKind = z.enum(['emulated', 'qemu']);

export const EventSchema = z.discriminatedUnion('type', [
  z.object({
    ...envelope,
    type: z.literal('host.started'),
    data: z.object({ uuid: z.uuid(), address: z.string() }),
  }),
  z.object({ ...envelope, type: z.literal('host.stopped'), data: z.object({}) }),
  z.object({
    ...envelope,
    type: z.literal('guest.defined'),
    data: z.object({ kind: guestKind, memoryMiB: z.number().int().positive(), incoming: z.boolean() }),
  }),
  z.object({
    ...envelope,
    type: z.literal('guest.started'),
    data: z.object({ pid: z.number().int(), paused: z.boolean() }),
  }),
  z.object({ ...envelope, type: z.literal('guest.paused'), data: z.object({ reason: z.string() }) }),
  z.object({ ...envelope, type: z.literal('guest.resumed'), data: z.object({ reason: z.string() }) }),
  z.object({ ...envelope, type: z.literal('guest.stopped'), data: z.object({ reason: z.string() }) }),
  z.object({ ...envelope, type: z.literal('guest.killed'), data: z.object({ reason: z.string() }) }),
  z.object({
    ...envelope,
    type: z.literal('guest.reconnected'),
    data: z.object({ pid: z.number().int(), status: z.string() }),
  }),
  z.object({
    ...envelope,
    type: z.literal('migration.status'),
    data: z.object({
      side: z.enum(['source', 'destination']),
      status: z.string(),
      error: z.string().optional(),
    }),
  }),
  z.object({ ...envelope, type: z.literal('migration.pass'), data: z.object({ pass: z.number().int() }) }),
  z.object({
    ...envelope,
    type: z.literal('migration.phase'),
    data: z.object({
      phase: z.enum(['begin', 'prepare', 'perform', 'finish', 'confirm']),
      side: z.enum(['source', 'destination']),
      /** cancelled: Finish/Confirm run as compensation; recovery: decided by an agent restarting. */
      mode: z.enum(['normal', 'cancelled', 'recovery']),
      detail: z.string(),
    }),
  }),
  z.object({
    ...envelope,
    type: z.literal('migration.ended'),
    data: z.object({
      outcome: z.enum(['completed', 'rolled-back', 'failed']),
      source: z.string(),
      destination: z.string(),
      runsOn: z.string().nullable(),
      aborted: z.boolean(),
      downtimeMs: z.number().nullable(),
      bytes: z.number().nullable(),
      passes: z.number().nullable(),
      firstError: z
        .object({
          phase: z.string(),
          host: z.string(),
          vm: z.string(),
          type: z.string(),
          message: z.string(),
        })
        .nullable(),
      phases: z.array(
        z.object({
          name: z.enum(['begin', 'prepare', 'perform', 'finish', 'confirm']),
          host: z.string(),
          mode: z.enum(['normal', 'cancelled']),
          startedAt: z.string(),
          endedAt: z.string().nullable(),
          result: z.enum(['running', 'ok', 'failed']),
          error: z.string().optional(),
        }),
      ),
    }),
  }),
  z.object({
    ...envelope,
    type: z.literal('disk.leased'),
    data: z.object({ disks: z.array(z.string()), tokens: z.array(z.number().int()) }),
  }),
  z.object({ ...envelope, type: z.literal('disk.released'), data: z.object({ disks: z.array(z.string()) }) }),
  z.object({
    ...envelope,
    type: z.literal('savevm.section'),
    data: z.object({
      side: z.enum(['source', 'destination']),
      kind: z.enum(['start', 'part', 'end', 'full', 'eof']),
      idstr: z.string(),
      offset: z.number().int().nonnegative(),
      bytes: z.number().int().nonnegative(),
      normalPages: z.number().int().nonnegative(),
      zeroPages: z.number().int().nonnegative(),
      /**
       * Sections this event counts (hosts/agent/section-batcher.ts): of this kind and device, from
       * `offset` on, their bytes and pages summed. Absent (events written before batching): 1.
       */
      count: z.number().int().positive().optional(),
    }),
  }),
  z.object({
    ...envelope,
    type: z.literal('tunnel.closed'),
    data: z.object({
      side: z.enum(['source', 'destination']),
      bytes: z.number().int().nonnegative(),
      outcome: z.enum(['completed', 'broken', 'refused', 'aborted']),
      offset: z.number().int().nonnegative().optional(),
      error: z.string().optional(),
    }),
  }),
]);

export type FerryEvent = z.infer<typeof EventSchema>;
export type EventType = FerryEvent['type'];
/** What a producer supplies; the envelope's id, version, time, host and seq are filled in on record. */
export type EventInput = {
  [T in EventType]: {
    type: T;
    vm: string | null;
    migrationId?: string | null;
    data: Extract<FerryEvent, { type: T }>['data'];
  };
}[EventType];

export function parseEvent(raw: unknown): FerryEvent {
  return EventSchema.parse(raw);
}

export { vmName as VmNameSchema };

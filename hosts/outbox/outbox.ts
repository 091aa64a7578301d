// The durable event outbox of a process that publishes events (an agent, the controller): every
// event is appended (and fsynced) to a local file before it is shipped to Kafka, so no event is
// lost while Kafka is down, even if the process crashes meanwhile.
// A cursor file remembers the last sequence number Kafka acknowledged. Delivery is at least once;
// readers drop duplicates by event id.
//
// Two things are made durable in groups rather than one by one, because the migration stream's own
// events come many a second and each fsync held the data path up (~12% of an agent's time while a
// busy guest moved, in fsync alone): the events of the data path (recordSoon: written at once,
// fsynced with their neighbours within GROUP_COMMIT_MS) and the cursor (written at most every
// CURSOR_PERSIST_MS). Written means in the OS's cache, which a crash of the agent does not lose;
// only a crash of the machine can lose that last moment: a few section events (a gap the audit
// reports), or a cursor that is behind (events shipped twice, which readers drop).
//
// With a signer (security on) every event is signed as it is recorded, so the line in the file is
// what Kafka gets; an unsigned event left from before (recorded with security off) is signed when
// it is recovered, by the same publisher, before it is shipped.
import { randomUUID } from 'node:crypto';
import {
  closeSync,
  existsSync,
  fsyncSync,
  openSync,
  readFileSync,
  renameSync,
  writeFileSync,
  writeSync,
  ftruncateSync,
} from 'node:fs';
import { join } from 'node:path';
import type { Logger } from '../../infra/logging/logger.ts';
import type { EventSigner } from '../../protocol/event-signature.ts';
import { EVENT_VERSION, EventSchema, type EventInput, type FerryEvent } from '../../protocol/events.ts';
import { countQuarantined, recoverOutbox } from './recover.ts';

export interface OutboxOptions {
  /** Signs every event (security on); without it events are unsigned. */
  signer?: EventSigner;
  /** Where a recovery that quarantined lines says so. */
  log?: Logger;
}

/** Past this size a fully shipped outbox file is emptied. */
const COMPACT_AT_BYTES = 4 * 1024 * 1024;
/** How long an event of `recordSoon` may wait for its fsync. */
export const GROUP_COMMIT_MS = 5;
/** How often at most the cursor is written after Kafka acknowledged events. */
export const CURSOR_PERSIST_MS = 200;

export class Outbox {
  private readonly file: string;
  private readonly cursorFile: string;
  private fd: number;
  private size: number;
  private nextSeq: number;
  private shipped: number;
  /** Recorded, not yet acknowledged by Kafka, in sequence order. */
  private readonly pending: FerryEvent[] = [];
  private readonly waiters = new Set<() => void>();
  /** An fsync is due for events appended by recordSoon. */
  private syncTimer: NodeJS.Timeout | null = null;
  /** The cursor in the file, and when it was written. */
  private persisted: number;
  private persistedAt = 0;
  private cursorTimer: NodeJS.Timeout | null = null;

  private readonly signer: EventSigner | undefined;
  /** Lines the quarantine file holds: unreadable lines moved out of the outbox, ever. */
  private quarantinedLines: number;

  constructor(
    dir: string,
    private readonly host: string,
    options: OutboxOptions = {},
  ) {
    this.file = join(dir, 'outbox.jsonl');
    this.cursorFile = join(dir, 'outbox.cursor');
    this.quarantineFile = join(dir, 'outbox.quarantine.jsonl');
    this.signer = options.signer;
    this.shipped = existsSync(this.cursorFile) ? Number(readFileSync(this.cursorFile, 'utf8').trim()) : -1;
    this.persisted = this.shipped;
    const recovered = recoverOutbox(this.file, this.quarantineFile);
    this.quarantinedLines = countQuarantined(this.quarantineFile);
    if (recovered.quarantined.length > 0) {
      options.log?.error('outbox: unreadable lines moved to quarantine; the events after them are kept', {
        host,
        quarantined: recovered.quarantined.map((q) => ({ line: q.line, seq: q.seq, reason: q.reason })),
        file: this.quarantineFile,
        quarantinedEver: this.quarantinedLines,
      });
    }
    this.nextSeq = Math.max(this.shipped, recovered.highestSeq) + 1;
    const unshipped = recovered.events.filter((e) => e.seq > this.shipped);
    this.pending.push(...unshipped.map((e) => (this.signer && !e.sig ? this.signer.sign(e) : e)));
    this.fd = openSync(this.file, 'a');
    this.size = existsSync(this.file) ? readFileSync(this.file).length : 0;
  }

  /** Where unreadable lines went. */
  readonly quarantineFile: string;

  /** How many unreadable lines this outbox has quarantined, over its life (the agent reports it). */
  get quarantined(): number {
    return this.quarantinedLines;
  }

  /** Appends an event durably and returns it with its envelope. */
  record(input: EventInput): FerryEvent {
    const event = this.append(input);
    this.sync();
    return event;
  }

  /**
   * Appends an event now and makes it durable within GROUP_COMMIT_MS, in one fsync with the events
   * appended beside it: for the data path's events, which must not wait on the disk one by one.
   */
  recordSoon(input: EventInput): FerryEvent {
    const event = this.append(input);
    if (!this.syncTimer) {
      this.syncTimer = setTimeout(() => this.sync(), GROUP_COMMIT_MS);
      this.syncTimer.unref();
    }
    return event;
  }

  /** Everything appended so far is on disk (covers the events waiting for a group commit). */
  private sync(): void {
    if (this.syncTimer) clearTimeout(this.syncTimer);
    this.syncTimer = null;
    fsyncSync(this.fd);
  }

  private append(input: EventInput): FerryEvent {
    const parsed = EventSchema.parse({
      id: randomUUID(),
      version: EVENT_VERSION,
      time: new Date().toISOString(),
      host: this.host,
      seq: this.nextSeq,
      migrationId: null,
      ...input,
    });
    const event = this.signer ? this.signer.sign(parsed) : parsed;
    const line = Buffer.from(JSON.stringify(event) + '\n');
    writeSync(this.fd, line);
    this.size += line.length;
    this.nextSeq++;
    this.pending.push(event);
    for (const wake of this.waiters) wake();
    return event;
  }

  /** The oldest unshipped events, at most `max`. */
  peek(max: number): FerryEvent[] {
    return this.pending.slice(0, max);
  }

  get backlog(): number {
    return this.pending.length;
  }

  /**
   * Kafka acknowledged every event up to and including `seq`. The cursor file follows at once if it
   * was last written CURSOR_PERSIST_MS ago or more, else at the end of that interval.
   */
  acknowledge(seq: number): void {
    while (this.pending.length > 0 && this.pending[0]!.seq <= seq) this.pending.shift();
    this.shipped = seq;
    if (this.cursorTimer) return;
    const wait = this.persistedAt + CURSOR_PERSIST_MS - Date.now();
    if (wait <= 0) {
      this.persistCursor();
      return;
    }
    this.cursorTimer = setTimeout(() => this.persistCursor(), wait);
    this.cursorTimer.unref();
  }

  /** Writes the cursor (fsynced, renamed into place); only then may a fully shipped file be emptied. */
  private persistCursor(): void {
    if (this.cursorTimer) clearTimeout(this.cursorTimer);
    this.cursorTimer = null;
    if (this.persisted === this.shipped) return;
    const seq = this.shipped;
    const tmp = `${this.cursorFile}.tmp`;
    writeFileSync(tmp, String(seq));
    const fd = openSync(tmp, 'r');
    fsyncSync(fd);
    closeSync(fd);
    renameSync(tmp, this.cursorFile);
    this.persisted = seq;
    this.persistedAt = Date.now();
    // Emptied only once the cursor on disk covers every event in it: else a crash in between
    // would leave a file without those events and a cursor before them, and their seqs reused.
    if (this.pending.length === 0 && this.persisted === this.nextSeq - 1 && this.size > COMPACT_AT_BYTES) {
      ftruncateSync(this.fd, 0);
      this.size = 0;
    }
  }

  /** Resolves when there is something to ship (or after `ms`). */
  waitForEvents(ms: number): Promise<void> {
    if (this.pending.length > 0) return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.waiters.delete(done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.waiters.add(done);
    });
  }

  /** Makes everything durable (the events awaiting a group commit, the cursor) and closes the file. */
  close(): void {
    this.sync();
    this.persistCursor();
    closeSync(this.fd);
  }
}

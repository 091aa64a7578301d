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
import { EVENT_VERSION, EventSchema, type EventInput, type FerryEvent } from '../../protocol/events.ts';

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

  constructor(
    dir: string,
    private readonly host: string,
  ) {
    this.file = join(dir, 'outbox.jsonl');
    this.cursorFile = join(dir, 'outbox.cursor');
    this.shipped = existsSync(this.cursorFile) ? Number(readFileSync(this.cursorFile, 'utf8').trim()) : -1;
    this.persisted = this.shipped;
    const recovered = this.recover();
    this.nextSeq = Math.max(this.shipped, ...recovered.map((e) => e.seq)) + 1;
    this.pending.push(...recovered.filter((e) => e.seq > this.shipped));
    this.fd = openSync(this.file, 'a');
    this.size = existsSync(this.file) ? readFileSync(this.file).length : 0;
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
    const event = EventSchema.parse({
      id: randomUUID(),
      version: EVENT_VERSION,
      time: new Date().toISOString(),
      host: this.host,
      seq: this.nextSeq,
      migrationId: null,
      ...input,
    });
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

  /** Events in the file; a torn last line (crash mid-write) is dropped and cut off. */
  private recover(): FerryEvent[] {
    if (!existsSync(this.file)) return [];
    const raw = readFileSync(this.file, 'utf8');
    const events: FerryEvent[] = [];
    let good = 0;
    for (const line of raw.split('\n')) {
      if (line === '') break;
      const parsed = EventSchema.safeParse(safeJson(line));
      if (!parsed.success) break;
      events.push(parsed.data);
      good += Buffer.byteLength(line) + 1;
    }
    if (good < Buffer.byteLength(raw)) {
      const fd = openSync(this.file, 'r+');
      ftruncateSync(fd, good);
      closeSync(fd);
    }
    return events;
  }
}

function safeJson(line: string): unknown {
  try {
    return JSON.parse(line);
  } catch {
    return undefined;
  }
}

// The agent's durable outbox: every event is appended (and fsynced) to a local file before it is
// shipped to Kafka, so no event is lost while Kafka is down, even if the agent crashes meanwhile.
// A cursor file remembers the last sequence number Kafka acknowledged. Delivery is at least once;
// readers drop duplicates by event id.
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
import { EVENT_VERSION, EventSchema, type EventInput, type FerryEvent } from '../../events/schema.ts';

/** Past this size a fully shipped outbox file is emptied. */
const COMPACT_AT_BYTES = 4 * 1024 * 1024;

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

  constructor(
    dir: string,
    private readonly host: string,
  ) {
    this.file = join(dir, 'outbox.jsonl');
    this.cursorFile = join(dir, 'outbox.cursor');
    this.shipped = existsSync(this.cursorFile) ? Number(readFileSync(this.cursorFile, 'utf8').trim()) : -1;
    const recovered = this.recover();
    this.nextSeq = Math.max(this.shipped, ...recovered.map((e) => e.seq)) + 1;
    this.pending.push(...recovered.filter((e) => e.seq > this.shipped));
    this.fd = openSync(this.file, 'a');
    this.size = existsSync(this.file) ? readFileSync(this.file).length : 0;
  }

  /** Appends an event durably and returns it with its envelope. */
  record(input: EventInput): FerryEvent {
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
    fsyncSync(this.fd);
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

  /** Kafka acknowledged every event up to and including `seq`. */
  acknowledge(seq: number): void {
    while (this.pending.length > 0 && this.pending[0]!.seq <= seq) this.pending.shift();
    this.shipped = seq;
    const tmp = `${this.cursorFile}.tmp`;
    writeFileSync(tmp, String(seq));
    const fd = openSync(tmp, 'r');
    fsyncSync(fd);
    closeSync(fd);
    renameSync(tmp, this.cursorFile);
    if (this.pending.length === 0 && this.size > COMPACT_AT_BYTES) {
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

  close(): void {
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

// Reading an outbox file back after a restart. A line that is not a valid event (a torn write at a
// crash, a flipped bit, a hand edit) is moved to the quarantine file, kept byte for byte with why
// and where it was, and the lines after it are kept: one bad line must never cost the events
// behind it, which may not have reached Kafka yet. The seq a bad line seems to carry still counts
// for the next seq, so a new event never takes the number of one that was lost.
import {
  closeSync,
  existsSync,
  fsyncSync,
  openSync,
  readFileSync,
  renameSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { dirname } from 'node:path';
import { z } from 'zod';
import { EventSchema, type FerryEvent } from '../../protocol/events.ts';

/** One quarantined line, as a line of the quarantine file. */
export const QuarantinedSchema = z.object({
  quarantinedAt: z.iso.datetime(),
  /** 1-based line number in the outbox file when it was read. */
  line: z.number().int().positive(),
  reason: z.string(),
  /** The seq the line seems to carry, when one can be made out. */
  seq: z.number().int().nonnegative().nullable(),
  /** The line's bytes, exactly (base64), without its newline. */
  raw: z.string(),
});
export type Quarantined = z.infer<typeof QuarantinedSchema>;

export interface Recovered {
  events: FerryEvent[];
  /** What this recovery moved to the quarantine file. */
  quarantined: Quarantined[];
  /** The highest seq seen, in good lines or made out in bad ones; -1 if none. */
  highestSeq: number;
}

const NEWLINE = 0x0a;

export function recoverOutbox(file: string, quarantineFile: string): Recovered {
  if (!existsSync(file)) return { events: [], quarantined: [], highestSeq: -1 };
  const bytes = readFileSync(file);
  const events: FerryEvent[] = [];
  const good: Buffer[] = [];
  const quarantined: Quarantined[] = [];
  let highestSeq = -1;
  let repair = false;
  let start = 0;
  for (let n = 1; start < bytes.length; n++) {
    const end = bytes.indexOf(NEWLINE, start);
    const torn = end === -1;
    const line = bytes.subarray(start, torn ? bytes.length : end);
    start = torn ? bytes.length : end + 1;
    if (line.length === 0) continue;
    const parsed = parseLine(line);
    if (parsed.ok) {
      // A whole event whose newline was cut off is still the event; the file is rewritten with it.
      if (torn) repair = true;
      events.push(parsed.event);
      good.push(line);
      highestSeq = Math.max(highestSeq, parsed.event.seq);
      continue;
    }
    const seq = seqOf(line);
    if (seq !== null) highestSeq = Math.max(highestSeq, seq);
    quarantined.push({
      quarantinedAt: new Date().toISOString(),
      line: n,
      reason: torn ? `torn (the write was cut off): ${parsed.reason}` : parsed.reason,
      seq,
      raw: line.toString('base64'),
    });
  }
  if (quarantined.length > 0 || repair) {
    // The quarantine file is durable before the outbox loses the lines: a crash in between leaves
    // a line in both, never in neither.
    if (quarantined.length > 0) {
      appendDurably(quarantineFile, quarantined.map((q) => JSON.stringify(q) + '\n').join(''));
    }
    replaceDurably(file, good.length === 0 ? '' : Buffer.concat(good.flatMap((l) => [l, Buffer.from('\n')])));
  }
  return { events, quarantined, highestSeq };
}

/** How many lines the quarantine file holds (what the agent reports). */
export function countQuarantined(quarantineFile: string): number {
  if (!existsSync(quarantineFile)) return 0;
  let count = 0;
  for (const byte of readFileSync(quarantineFile)) if (byte === NEWLINE) count++;
  return count;
}

function parseLine(line: Buffer): { ok: true; event: FerryEvent } | { ok: false; reason: string } {
  let raw: unknown;
  try {
    raw = JSON.parse(line.toString('utf8'));
  } catch (err) {
    return { ok: false, reason: `bad JSON: ${(err as Error).message}` };
  }
  const parsed = EventSchema.safeParse(raw);
  if (parsed.success) return { ok: true, event: parsed.data };
  const issue = parsed.error.issues[0];
  return { ok: false, reason: `schema: ${issue ? `${issue.path.join('.')}: ${issue.message}` : 'invalid'}` };
}

/** The seq in a damaged line, if `"seq":N` can still be read in it. */
function seqOf(line: Buffer): number | null {
  const m = /"seq":\s*(\d{1,15})[,}]/.exec(line.toString('latin1'));
  return m ? Number(m[1]) : null;
}

function appendDurably(file: string, text: string): void {
  const fd = openSync(file, 'a', 0o600);
  try {
    writeSync(fd, text);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  syncDir(dirname(file));
}

function replaceDurably(file: string, content: Buffer | string): void {
  const tmp = `${file}.tmp`;
  writeFileSync(tmp, content, { mode: 0o600 });
  const fd = openSync(tmp, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, file);
  syncDir(dirname(file));
}

/** A new or renamed file survives a crash of the machine only once its directory is synced. */
function syncDir(dir: string): void {
  const fd = openSync(dir, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

// What an agent and its guest runner (runner.ts) say on the runner's control socket: one JSON
// object per line, checked with zod on both sides. The agent sends requests with an id; the runner
// answers each with that id, and sends notices (no id) when a guest exits on its own.
import { z } from 'zod';
import { emulatedGuestSpecSchema } from './spec.ts';

/**
 * A guest's number in its runner: 1 ≤ n < GUEST_NUMBERS, never two live guests with the same.
 * Its pid-like identity is runner pid × GUEST_NUMBERS + n: an integer (the events' `pid` field)
 * above any pid Linux hands out (pid_max ≤ 2^22) for a runner pid over 419, and the runner's pid
 * is readable in it.
 */
export const GUEST_NUMBERS = 10_000;

export function guestIdentity(runnerPid: number, guest: number): number {
  return runnerPid * GUEST_NUMBERS + guest;
}

const GuestNumber = z
  .number()
  .int()
  .min(1)
  .max(GUEST_NUMBERS - 1);

export const RunnerRequestSchema = z.discriminatedUnion('op', [
  /** Start a guest; answered once its QMP socket listens (or with why it could not). */
  z.strictObject({
    id: z.number().int(),
    op: z.literal('start'),
    spec: emulatedGuestSpecSchema,
    /** The guest's own log file (the runner's log holds only the runner's lines). */
    log: z.string().min(1),
  }),
  /** Kill one guest now, as SIGKILL would: no SHUTDOWN event, its sockets destroyed. */
  z.strictObject({ id: z.number().int(), op: z.literal('kill'), guest: GuestNumber }),
  /** The live guests. */
  z.strictObject({ id: z.number().int(), op: z.literal('list') }),
]);
export type RunnerRequest = z.infer<typeof RunnerRequestSchema>;
/** A request as the agent writes it (the spec's defaults optional). */
export type RunnerRequestInput = z.input<typeof RunnerRequestSchema>;

export const RunnerGuestSchema = z.strictObject({
  guest: GuestNumber,
  name: z.string(),
  pid: z.number().int(),
});
export type RunnerGuest = z.infer<typeof RunnerGuestSchema>;

export const RunnerMessageSchema = z.union([
  z.strictObject({ id: z.number().int(), ok: z.literal(true), started: RunnerGuestSchema }),
  z.strictObject({ id: z.number().int(), ok: z.literal(true), killed: GuestNumber }),
  z.strictObject({ id: z.number().int(), ok: z.literal(true), guests: z.array(RunnerGuestSchema) }),
  z.strictObject({ id: z.number().int(), ok: z.literal(false), error: z.string() }),
  /** A guest ended by itself: `quit` (code 0) or a failed incoming migration (code 1). */
  z.strictObject({
    notice: z.literal('exited'),
    guest: GuestNumber,
    code: z.number().int(),
    reason: z.string(),
  }),
]);
export type RunnerMessage = z.infer<typeof RunnerMessageSchema>;

/** The longest line either side reads; a spec is well under it. */
export const MAX_LINE_BYTES = 256 * 1024;

/** Splits a stream into lines and hands each parsed, checked object on; a bad line is `onBad`. */
export function lineReader<T>(
  schema: z.ZodType<T>,
  onMessage: (m: T) => void,
  onBad: (why: string) => void,
): (chunk: string) => void {
  let buffer = '';
  return (chunk) => {
    buffer += chunk;
    let nl: number;
    while ((nl = buffer.indexOf('\n')) >= 0) {
      const line = buffer.slice(0, nl);
      buffer = buffer.slice(nl + 1);
      if (line.trim() === '') continue;
      let json: unknown;
      try {
        json = JSON.parse(line);
      } catch (err) {
        onBad(`not JSON: ${(err as Error).message}`);
        continue;
      }
      const parsed = schema.safeParse(json);
      if (parsed.success) onMessage(parsed.data);
      else onBad(`${parsed.error.issues[0]?.path.join('.') || '(root)'}: ${parsed.error.issues[0]?.message}`);
    }
    if (buffer.length > MAX_LINE_BYTES) {
      buffer = '';
      onBad(`a line longer than ${MAX_LINE_BYTES} bytes`);
    }
  };
}

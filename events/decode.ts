// A Kafka message's value turned into one of our events, or into the one-line reason it is not one
// (the reason goes with it to the dead-letter topic). The version is checked before the schema so
// that an event from a newer writer says "unknown version", not a schema error about `version`.
import { EVENT_VERSION, EventSchema, type FerryEvent } from '../protocol/events.ts';

/** `raw`: the value as parsed, every field kept (what a signature covers); `event`: its validated form. */
export type Decoded = { ok: true; event: FerryEvent; raw: object } | { ok: false; reason: string };

export function decodeEvent(value: Buffer | string | null): Decoded {
  if (value === null || value.length === 0) return { ok: false, reason: 'empty message' };
  let raw: unknown;
  try {
    raw = JSON.parse(String(value));
  } catch (err) {
    return { ok: false, reason: `bad JSON: ${(err as Error).message}` };
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    return { ok: false, reason: 'bad JSON: not an object' };
  }
  const version = (raw as { version?: unknown }).version;
  if (version !== EVENT_VERSION) {
    return {
      ok: false,
      reason: `unknown version ${JSON.stringify(version) ?? 'undefined'} (this reader knows ${EVENT_VERSION})`,
    };
  }
  const parsed = EventSchema.safeParse(raw);
  if (parsed.success) return { ok: true, event: parsed.data, raw };
  const issue = parsed.error.issues[0];
  const type = (raw as { type?: unknown }).type;
  const where = issue && issue.path.length > 0 ? `${issue.path.join('.')}: ` : '';
  const more = parsed.error.issues.length > 1 ? ` (+${parsed.error.issues.length - 1} more)` : '';
  return {
    ok: false,
    reason: `schema: ${typeof type === 'string' ? `${type} ` : ''}${where}${issue?.message ?? 'invalid'}${more}`,
  };
}

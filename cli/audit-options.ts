// The options of `ferry audit replay`, parsed and checked in one place.
import { z } from 'zod';
import { DEAD_LETTER_TOPIC } from '../events/dead-letter.ts';
import { EVENTS_TOPIC, VmNameSchema } from '../protocol/events.ts';
import { TopicSchema } from './log-options.ts';

const UNIT_MS = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 } as const;

/** An ISO time (2026-11-23T13:00:00Z) or an age (90s, 30m, 2h, 7d). */
export const SinceSchema = z.string().transform((s, ctx) => {
  const age = /^(\d+)([smhd])$/.exec(s);
  if (age) return new Date(Date.now() - Number(age[1]) * UNIT_MS[age[2] as keyof typeof UNIT_MS]);
  const t = Date.parse(s);
  if (Number.isNaN(t)) {
    ctx.addIssue({
      code: 'custom',
      message: `${JSON.stringify(s)} is neither a time (ISO 8601) nor an age like 30m or 2h`,
    });
    return z.NEVER;
  }
  return new Date(t);
});

export const AuditOptionsSchema = z.object({
  since: SinceSchema.optional(),
  vms: z.array(VmNameSchema).default([]),
  json: z.boolean().default(false),
  histories: z.boolean().default(false),
  live: z.boolean().default(true),
  topic: TopicSchema.default(EVENTS_TOPIC),
  deadLetterTopic: TopicSchema.default(DEAD_LETTER_TOPIC),
});
export type AuditOptions = z.output<typeof AuditOptionsSchema>;

// Options the event-log commands share (`ferry audit replay`, `ferry events tail`).
import { z } from 'zod';

export const TopicSchema = z.string().regex(/^[a-zA-Z0-9._-]{1,249}$/, 'a Kafka topic name');

/** commander collector: `--vm a --vm b` and `--vm a,b` both give [a, b]. */
export function collectVms(value: string, previous: string[] = []): string[] {
  return [...previous, ...value.split(',').filter((v) => v.length > 0)];
}

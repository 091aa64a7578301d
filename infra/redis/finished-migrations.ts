// A Finish that resumed its guest keeps its answer (the Finish cookie and the memory digest) for a
// day, so a Finish retried after it succeeded (the agent died, the reply was lost) answers the same
// instead of judging a guest that already runs. One key per migration: ferry:finished:<id>.
import type { Redis } from 'ioredis';
import { z } from 'zod';

/** Kept a day: a retry comes within the workflow's retry policy, long before. */
const FINISHED_TTL_S = 24 * 3600;

const FinishedAnswerSchema = z.object({ cookie: z.string(), digest: z.string() });
export type FinishedAnswer = z.infer<typeof FinishedAnswerSchema>;

export class FinishedMigrations {
  constructor(private readonly redis: Redis) {}

  private key(migrationId: string): string {
    return `ferry:finished:${migrationId}`;
  }

  /** The answer a finished migration gave, or undefined if it has not finished here (or a day passed). */
  async get(migrationId: string): Promise<FinishedAnswer | undefined> {
    const raw = await this.redis.get(this.key(migrationId));
    return raw === null ? undefined : FinishedAnswerSchema.parse(JSON.parse(raw));
  }

  async record(migrationId: string, answer: FinishedAnswer): Promise<void> {
    await this.redis.set(this.key(migrationId), JSON.stringify(answer), 'EX', FINISHED_TTL_S);
  }
}

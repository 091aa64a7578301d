// What the source keeps in its job record between Begin and Confirm: whether the guest ran before
// the migration (Confirm resumes only a guest that ran) and, once Perform released the disk leases
// at the pause, their lockstate, so a resume can take them back unless someone else had them.
import { z } from 'zod';
import { LockstateSchema } from '../../infra/redis/lockstate.ts';

export const SourceMemoSchema = z.object({
  wasRunning: z.boolean(),
  lockstate: LockstateSchema.nullable(),
});
export type SourceMemo = z.infer<typeof SourceMemoSchema>;

export function readMemo(raw: string | null): SourceMemo {
  return raw === null ? { wasRunning: true, lockstate: null } : SourceMemoSchema.parse(JSON.parse(raw));
}

// What the source keeps in its job record between Begin and Confirm: whether the guest ran before
// the migration (Confirm resumes only a guest that ran) and, once Perform released the disk leases
// at the pause, their lockstate, so a resume can take them back unless someone else had them.
import { z } from 'zod';

export const SourceMemoSchema = z.object({
  wasRunning: z.boolean(),
  lockstate: z.array(z.object({ disk: z.string(), generation: z.number().int() })).nullable(),
});
export type SourceMemo = z.infer<typeof SourceMemoSchema>;

export function readMemo(raw: string | null): SourceMemo {
  return raw === null ? { wasRunning: true, lockstate: null } : SourceMemoSchema.parse(JSON.parse(raw));
}

// A guest as its host's guest manager knows it: what a drain moves and `ferry status` shows. The
// agent answers it on its task queue (listGuests) and publishes it in Redis with each heartbeat,
// so `ferry status` can read every host's guests without a round trip through Temporal.
import { z } from 'zod';

export const HostGuestSchema = z.object({
  vm: z.string(),
  kind: z.string(),
  memoryMiB: z.number().int(),
  /** Still arriving: a migration's incoming guest, not yet resumed here. */
  incoming: z.boolean(),
  /** QEMU's run state (`running`, `paused`, `inmigrate`, ...), or `unknown` if QMP did not answer. */
  status: z.string(),
});
export type HostGuest = z.infer<typeof HostGuestSchema>;

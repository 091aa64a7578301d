// A lockstate: the generation each disk was at when its holder released it, which is what that
// holder (or the host it hands the disks to) needs to take them back while nobody held them in
// between (libvirt's lock state). Declared once, here, at the lowest layer that needs it: the disk
// lease store mints and checks it; the v3 cookie carries it from Perform to Finish, the source's
// job memo keeps it, and a failed Finish hands it back to the source's Confirm.
import { z } from 'zod';

export const LockstateSchema = z
  .array(z.strictObject({ disk: z.string().min(1), generation: z.number().int().nonnegative() }))
  .max(64)
  .refine((locks) => new Set(locks.map((l) => l.disk)).size === locks.length, 'lists a disk twice');

export type Lockstate = z.infer<typeof LockstateSchema>;

import { z } from 'zod';
import { VmNameSchema } from '../../protocol/events.ts';

/** What the agent is asked to run; kept as guest.json beside the guest's pid and QMP socket. */
export const GuestDefinitionSchema = z
  .object({
    vm: VmNameSchema,
    kind: z.enum(['emulated', 'qemu']),
    memoryMiB: z.number().int().min(8),
    /** Emulated guests only: pages the workload dirties per second (0: idle). */
    dirtyPagesPerSecond: z.number().min(0).default(0),
    /**
     * QEMU guests only: the MiB its program keeps rewriting (from 2 MiB up; default the image's 8).
     * A large one makes a guest whose pages are data, not zeros, and keep changing.
     */
    workingSetMiB: z.number().int().min(1).optional(),
    /** Start with the vCPUs stopped (QEMU's -S). */
    paused: z.boolean().default(false),
    /** Wait for an incoming migration (QEMU's -incoming defer). */
    incoming: z.boolean().default(false),
    /**
     * The guest's disks, each a lease in the lock manager that the host must hold while the guest
     * runs. ferry's guests have no real disks; the leases are what libvirt's lock driver protects.
     * Default: one disk named after the VM.
     */
    disks: z.array(z.string().regex(/^[a-z0-9][a-z0-9._-]{0,80}$/, 'disk names are lower-case')).optional(),
  })
  .refine((d) => d.workingSetMiB === undefined || d.kind === 'qemu', {
    message: 'a working set is for QEMU guests (emulated ones take a dirty rate)',
    path: ['workingSetMiB'],
  })
  .refine((d) => d.workingSetMiB === undefined || d.workingSetMiB <= d.memoryMiB - 2, {
    message: 'the working set (from 2 MiB up) must fit in the guest memory',
    path: ['workingSetMiB'],
  })
  .transform((d) => ({ ...d, disks: d.disks ?? [`${d.vm}-disk0`] }));
export type GuestDefinition = z.output<typeof GuestDefinitionSchema>;
export type GuestDefinitionInput = z.input<typeof GuestDefinitionSchema>;

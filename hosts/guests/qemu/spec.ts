// The QEMU guest spec as the agent gives it, checked with zod. Limits are QEMU's and the image's.
import { isAbsolute } from 'node:path';
import { z } from 'zod';
import { QemuGuestSpecError } from './errors.ts';

export const QEMU_BINARY = '/usr/bin/qemu-system-x86_64';
export const DEFAULT_MACHINE = 'pc';
/**
 * Both pc and q35 keep up to 2 GiB of RAM in one block at physical 0 (q35 splits above that),
 * so a pmemsave from 0 of memoryMiB covers exactly the guest's RAM.
 */
export const MAX_MEMORY_MIB = 2048;
/** The guest's working set starts at 2 MiB; below 8 MiB there is hardly anything to dirty. */
export const MIN_MEMORY_MIB = 8;
/** sun_path is 108 bytes including the NUL. */
const MAX_SOCKET_PATH = 107;

const absolutePath = z.string().refine(isAbsolute, 'must be an absolute path');

export const qemuGuestSpecSchema = z
  .object({
    vm: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/, 'letters, digits, . _ - (max 64)'),
    memoryMiB: z.number().int().min(MIN_MEMORY_MIB).max(MAX_MEMORY_MIB),
    qmpSocket: absolutePath.refine(
      (p) => Buffer.byteLength(p) <= MAX_SOCKET_PATH,
      'too long for a unix socket',
    ),
    paused: z.boolean(),
    incoming: z.boolean(),
    image: absolutePath,
    machine: z
      .string()
      .regex(/^(pc|q35)(-[a-z0-9.-]+)?$/, 'a pc or q35 machine type')
      .default(DEFAULT_MACHINE),
    /** ws= for the guest program: MiB it dirties from 2 MiB up (default: the image's 8). */
    workingSetMiB: z.number().int().min(1).optional(),
    /** delay= for the guest program: busy-wait iterations after each page write. */
    delay: z.number().int().min(0).max(0xffffffff).optional(),
    /**
     * flush= for the guest program: invlpg after each write (default true), without which
     * QEMU 7.2's TCG misses writes to TLB-hot pages during migration (see guest.s).
     */
    flushTlb: z.boolean().optional(),
    /** Where the guest's serial port goes (a file); none by default. */
    serialLog: absolutePath.optional(),
    qemuBinary: absolutePath.default(QEMU_BINARY),
  })
  .refine((s) => s.workingSetMiB === undefined || s.workingSetMiB <= s.memoryMiB - 2, {
    message: 'the working set (from 2 MiB up) must fit in memoryMiB',
    path: ['workingSetMiB'],
  });

export type QemuGuestSpec = z.input<typeof qemuGuestSpecSchema>;
export type CheckedQemuGuestSpec = z.output<typeof qemuGuestSpecSchema>;

/** Parses with zod; a bad spec is a FerryError naming the field. */
export function checkQemuGuestSpec(spec: unknown): CheckedQemuGuestSpec {
  return checked(qemuGuestSpecSchema, spec, 'QEMU guest spec');
}

export function checked<S extends z.ZodType>(schema: S, value: unknown, what: string): z.output<S> {
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  const issue = result.error.issues[0];
  const where = issue?.path.length ? issue.path.join('.') : 'value';
  throw new QemuGuestSpecError(`bad ${what}: ${where}: ${issue?.message ?? 'invalid'}`, {
    cause: result.error,
  });
}

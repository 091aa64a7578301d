// What an emulated guest is started with: one zod schema, checked at the process boundary (argv or
// a JSON file) and in emulatedGuestCommand(), so a bad spec fails before any process starts.
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { z } from 'zod';
import { LOG_LEVELS } from '../../infra/logging/logger.ts';
import { GuestSpecError } from './errors.ts';

/** RAM is one Buffer: stay well under Node's Buffer limit and the machine's memory. */
export const MAX_MEMORY_MIB = 16 * 1024;
export const DEFAULT_SEED = 1;

export const emulatedGuestSpecSchema = z
  .strictObject({
    name: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/, 'a VM name: letters, digits, . _ -'),
    memoryMiB: z.number().int().min(1).max(MAX_MEMORY_MIB),
    /** Pages the workload writes per second while the vCPUs run; 0 is an idle guest. */
    dirtyPagesPerSecond: z.number().min(0).max(10_000_000).default(0),
    /** The workload writes pages [0, workingSetPages); all of RAM when absent. */
    workingSetPages: z.number().int().min(1).optional(),
    /** Unix socket paths are limited to 107 bytes by sockaddr_un. */
    qmpSocket: z.string().min(1).max(107),
    /** Start with the vCPUs stopped, like QEMU's -S. */
    paused: z.boolean().default(false),
    /** "defer": wait for migrate-incoming, like QEMU's -incoming defer. */
    incoming: z.literal('defer').optional(),
    seed: z.number().int().min(0).max(0xffffffff).default(DEFAULT_SEED),
    logLevel: z.enum(LOG_LEVELS).default('info'),
  })
  .refine((s) => s.workingSetPages === undefined || s.workingSetPages <= s.memoryMiB * 256, {
    message: 'workingSetPages is larger than RAM (memoryMiB * 256 pages)',
    path: ['workingSetPages'],
  });

/** A spec as callers write it (defaults optional). */
export type EmulatedGuestSpec = z.input<typeof emulatedGuestSpecSchema>;
/** A checked spec with its defaults filled in. */
export type ResolvedGuestSpec = z.output<typeof emulatedGuestSpecSchema>;

export function parseGuestSpec(input: unknown): ResolvedGuestSpec {
  const parsed = emulatedGuestSpecSchema.safeParse(input);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new GuestSpecError(
      `invalid emulated guest spec: ${issue?.path.join('.') || '(root)'}: ${issue?.message ?? 'invalid'}`,
      { hint: 'see hosts/guest-sim/spec.ts for the fields and their bounds' },
    );
  }
  return parsed.data;
}

/** argv of the guest process: `--spec FILE` (a JSON file) or `--spec-json JSON`. */
export function parseGuestArgv(argv: string[]): ResolvedGuestSpec {
  let values: { spec?: string | undefined; 'spec-json'?: string | undefined };
  try {
    ({ values } = parseArgs({
      args: argv,
      options: { spec: { type: 'string' }, 'spec-json': { type: 'string' } },
      strict: true,
    }));
  } catch (err) {
    throw new GuestSpecError(`guest-sim: ${(err as Error).message}`, {
      hint: 'usage: main.ts --spec FILE | --spec-json JSON',
    });
  }
  if ((values.spec === undefined) === (values['spec-json'] === undefined)) {
    throw new GuestSpecError('guest-sim: give exactly one of --spec FILE or --spec-json JSON');
  }
  let text = values['spec-json'];
  if (values.spec !== undefined) {
    try {
      text = readFileSync(values.spec, 'utf8');
    } catch (err) {
      throw new GuestSpecError(`guest-sim: cannot read spec file ${values.spec}: ${(err as Error).message}`);
    }
  }
  let json: unknown;
  try {
    json = JSON.parse(text!);
  } catch (err) {
    throw new GuestSpecError(`guest-sim: spec is not JSON: ${(err as Error).message}`);
  }
  return parseGuestSpec(json);
}

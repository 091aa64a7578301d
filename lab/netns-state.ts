// What a lab made, written down before it is made: `ferry lab down` (and a test's clean-up, also
// after a failure half-way through `lab up`) removes exactly what this file records, nothing else.
import { mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { FerryError } from '../errors/ferry-error.ts';
import type { Config } from '../infra/config.ts';

export class LabStateError extends FerryError {
  readonly code = 'LAB_STATE_INVALID';
}

const LabHostSchema = z.object({
  name: z.string(),
  index: z.number().int().positive(),
  netns: z.string(),
  hostSide: z.string(),
  nsSide: z.string(),
  address: z.string(),
  /** The host's own FERRY_STATE_DIR: its agent's pid file, outbox, guests, identity. */
  stateDir: z.string(),
  memoryMiB: z.number().int(),
});
export type LabHost = z.infer<typeof LabHostSchema>;

const LabStateSchema = z.object({
  version: z.literal(1),
  bridge: z.string(),
  bridgeAddress: z.string(),
  subnet: z.string(),
  /** Whether `lab up` started the stack (bound to the bridge): `lab down` then stops it. */
  stackStarted: z.boolean(),
  /** Every host whose namespace and link were made (or were about to be). */
  hosts: z.array(LabHostSchema),
  createdAt: z.iso.datetime(),
});
export type LabState = z.infer<typeof LabStateSchema>;

export function labDir(cfg: Config): string {
  return join(cfg.stateDir, 'lab');
}

export function labStatePath(cfg: Config): string {
  return join(labDir(cfg), 'lab.json');
}

/** The lab of this state dir, or undefined when none is up. */
export function readLabState(cfg: Config): LabState | undefined {
  let raw: string;
  try {
    raw = readFileSync(labStatePath(cfg), 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  const parsed = LabStateSchema.safeParse(JSON.parse(raw));
  if (!parsed.success) {
    throw new LabStateError(
      `${labStatePath(cfg)} is not a lab state file: ${parsed.error.issues[0]?.message}`,
      {
        hint: 'remove what it names by hand (ip netns, ip link), then the file',
      },
    );
  }
  return parsed.data;
}

/** Written whole under a temporary name and renamed, so a crash leaves the old record or the new. */
export function writeLabState(cfg: Config, state: LabState): void {
  mkdirSync(labDir(cfg), { recursive: true, mode: 0o700 });
  const path = labStatePath(cfg);
  writeFileSync(`${path}.tmp`, JSON.stringify(state, null, 2) + '\n', { mode: 0o600 });
  renameSync(`${path}.tmp`, path);
}

export function removeLabState(cfg: Config): void {
  rmSync(labStatePath(cfg), { force: true });
}

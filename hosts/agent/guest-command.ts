// The one place the two kinds of guest differ when they start: which process to run. Past this,
// the agent speaks QMP to both alike.
import { emulatedGuestCommand } from '../guest-sim/launch.ts';
import { parseGuestSpec, type ResolvedGuestSpec } from '../guest-sim/spec.ts';
import { qemuGuestCommand } from '../guests/qemu/command.ts';
import { buildGuestImage } from '../qemu-image/build.ts';
import type { GuestDefinition } from './guest-definition.ts';

export async function guestCommand(
  def: GuestDefinition,
  qmpSocket: string,
  imageCacheDir: string,
): Promise<{ command: string; args: string[] }> {
  if (def.kind === 'emulated') return emulatedGuestCommand(emulatedSpecOf(def, qmpSocket));
  const image = await buildGuestImage(imageCacheDir);
  return qemuGuestCommand({
    vm: def.vm,
    memoryMiB: def.memoryMiB,
    qmpSocket,
    paused: def.paused,
    incoming: def.incoming,
    image,
    ...(def.workingSetMiB !== undefined ? { workingSetMiB: def.workingSetMiB } : {}),
  });
}

/** The spec of an emulated guest, checked (a bad one throws GuestSpecError before any process starts). */
export function emulatedSpecOf(def: GuestDefinition, qmpSocket: string): ResolvedGuestSpec {
  return parseGuestSpec({
    name: def.vm,
    memoryMiB: def.memoryMiB,
    dirtyPagesPerSecond: def.dirtyPagesPerSecond,
    qmpSocket,
    paused: def.paused,
    ...(def.incoming ? { incoming: 'defer' as const } : {}),
  });
}

// How much a host takes, checked by its agent whoever asks: `ferry guest start` checks the host's
// registration first, but that is a copy in Redis, a heartbeat old, and a client that skips the
// CLI (or two Prepares at once) would otherwise overcommit the host. The agent counts the guests
// it runs and the ones starting, so two starts racing for the last room cannot both win.
import { FerryError } from '../../errors/ferry-error.ts';

/**
 * Guests one agent runs at most. Each costs the agent a QMP connection, a watcher and a few file
 * descriptors whatever its size, so memory alone does not bound them; ferry's scale bench runs 25
 * a host, and a few hundred emulated guests fit one machine (docs/guests.md).
 */
export const DEFAULT_MAX_GUESTS = 256;

export interface HostCapacity {
  /** Memory this host offers to guests (the agent's --memory). */
  memoryMiB: number;
  maxGuests: number;
}

/** Where a guest is being started: a migration's Prepare, or an operator's `guest start`. */
export type CapacityPhase = 'prepare' | 'start';

/** The host has no room for the guest. The code is the failure type the migration report keeps. */
export class CapacityError extends FerryError {
  readonly code = 'CapacityShort';
  constructor(
    readonly host: string,
    readonly vm: string,
    readonly phase: CapacityPhase,
    message: string,
  ) {
    super(`${phase} of ${vm} on ${host} refused: ${message}`, {
      hint: 'choose another host, a smaller guest, or stop a guest there first',
    });
  }
}

/** Throws CapacityError unless a guest of `memoryMiB` fits beside what `used` already holds. */
export function checkCapacity(
  capacity: HostCapacity,
  used: { memoryMiB: number; guests: number },
  want: { host: string; vm: string; phase: CapacityPhase; memoryMiB: number },
): void {
  const { host, vm, phase } = want;
  if (used.guests >= capacity.maxGuests) {
    throw new CapacityError(
      host,
      vm,
      phase,
      `${host} runs ${used.guests} of its ${capacity.maxGuests} guests`,
    );
  }
  const free = capacity.memoryMiB - used.memoryMiB;
  if (want.memoryMiB > free) {
    throw new CapacityError(
      host,
      vm,
      phase,
      `${host} has ${free} MiB free of ${capacity.memoryMiB}, ${vm} needs ${want.memoryMiB} MiB`,
    );
  }
}

// Starting a guest as `ferry guest start` does it, for every caller (the command, `npm start`'s
// demo, the test clusters): check the host (up, not draining, room), claim the VM's placement,
// then ask the host's agent; a start that fails gives the placement back.
import type { Redis } from 'ioredis';
import { z } from 'zod';
import { VmNameSchema } from '../protocol/events.ts';
import { FerryError } from '../errors/ferry-error.ts';
import { HostNameSchema } from '../protocol/names.ts';
import { HostRegistry } from '../hosts/agent/registration.ts';
import type { Config } from '../infra/config.ts';
import { DrainMarks } from '../infra/redis/draining.ts';
import { claimPlacement, releasePlacement } from '../infra/redis/placement.ts';
import { runHostOperation } from './host-operation.ts';

export class GuestCommandError extends FerryError {
  readonly code = 'GUEST_COMMAND_REFUSED';
}

export const GuestStartSchema = z.object({
  vm: VmNameSchema,
  host: HostNameSchema,
  memoryMiB: z.coerce.number().int().min(8, 'a guest needs at least 8 MiB'),
  dirtyPagesPerSecond: z.coerce.number().min(0).default(0),
  kind: z.enum(['emulated', 'qemu']).default('emulated'),
  workingSetMiB: z.coerce.number().int().min(1, 'the working set is at least 1 MiB').optional(),
});
export type GuestStart = z.infer<typeof GuestStartSchema>;

export async function startGuestOn(cfg: Config, redis: Redis, o: GuestStart): Promise<{ pid: number }> {
  const reg = await new HostRegistry(redis).read(o.host);
  if (!reg) {
    throw new GuestCommandError(`unknown host ${o.host} (no live agent registered under that name)`, {
      hint: `start it with \`ferry host start ${o.host} --detach\``,
    });
  }
  const draining = await new DrainMarks(redis).get(o.host);
  if (draining) {
    throw new GuestCommandError(`host ${o.host} is draining (since ${draining.since}, by ${draining.by})`, {
      hint: `choose another host, or \`ferry undrain ${o.host}\` once its maintenance is over`,
    });
  }
  const free = reg.memoryMiB - reg.usedMiB;
  if (o.memoryMiB > free) {
    throw new GuestCommandError(`host ${o.host} has ${free} MiB free, ${o.vm} needs ${o.memoryMiB} MiB`, {
      hint: 'choose a smaller guest or another host',
    });
  }
  const holder = await claimPlacement(redis, o.vm, o.host);
  if (holder !== null) {
    throw new GuestCommandError(`a guest named ${o.vm} already runs on ${holder}`, {
      hint: 'VM names are unique in the cluster; choose another',
    });
  }
  try {
    return await runHostOperation(cfg, o.host, 'startGuest', {
      vm: o.vm,
      kind: o.kind,
      memoryMiB: o.memoryMiB,
      dirtyPagesPerSecond: o.dirtyPagesPerSecond,
      ...(o.workingSetMiB !== undefined ? { workingSetMiB: o.workingSetMiB } : {}),
    });
  } catch (err) {
    await releasePlacement(redis, o.vm, o.host);
    throw err;
  }
}

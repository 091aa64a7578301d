// Where each VM runs, cluster-wide: one key per VM naming its host. Claimed atomically (SET NX), so
// two `guest start` of the same name cannot both succeed.
import type { Redis } from 'ioredis';
import { replicated } from './replicas.ts';
import { loadScript } from './scripts.ts';

const key = (vm: string) => `ferry:vm:${vm}`;

export async function claimPlacement(redis: Redis, vm: string, host: string): Promise<string | null> {
  const ok = await redis.set(key(vm), host, 'NX');
  if (ok === 'OK') await replicated(redis, `the placement of ${vm} on ${host}`);
  return ok === 'OK' ? null : await redis.get(key(vm));
}

export async function placementOf(redis: Redis, vm: string): Promise<string | null> {
  return redis.get(key(vm));
}

/** Forgets the placement only if it still names `host`. */
export async function releasePlacement(redis: Redis, vm: string, host: string): Promise<void> {
  await loadScript(redis, 'placement-release')([key(vm)], [host]);
}

/** At Finish: the VM now runs on `to`. False if the record named a third host (left as it was). */
export async function movePlacement(redis: Redis, vm: string, from: string, to: string): Promise<boolean> {
  return (await loadScript(redis, 'placement-move')([key(vm)], [from, to])) === 1;
}

/** The placement records as a store, for code that is given stores rather than the Redis client. */
export class Placements {
  constructor(private readonly redis: Redis) {}

  of(vm: string): Promise<string | null> {
    return placementOf(this.redis, vm);
  }

  /** See movePlacement. */
  move(vm: string, from: string, to: string): Promise<boolean> {
    return movePlacement(this.redis, vm, from, to);
  }
}

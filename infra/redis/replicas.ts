// Writes a lease depends on must survive a failover. Redis replicates asynchronously: a primary
// can acknowledge a disk lease, a job, an autokill claim or a spent nonce and fail before any
// replica has it, and the promoted replica then lacks it without losing the epoch, so nobody
// notices (docs/redis.md, "Replicated Redis"). With FERRY_REDIS_WAIT_REPLICAS > 0, every Lua script
// (each one writes such a record) and the placement claim are followed by WAIT, and the operation
// fails unless that many replicas acknowledged in time. The scripts are idempotent, so the
// caller's retry (an activity's, the reaper's next sweep) is safe.
import type { Redis } from 'ioredis';
import { FerryError } from '../../errors/ferry-error.ts';

export class RedisNotReplicatedError extends FerryError {
  readonly code = 'REDIS_NOT_REPLICATED';
}

export interface ReplicaWait {
  replicas: number;
  timeoutMs: number;
}

/** Per client: createRedis sets it from the configuration, so the stores need not know. */
const waits = new WeakMap<Redis, ReplicaWait>();

export function waitForReplicas(redis: Redis, wait: ReplicaWait): void {
  if (wait.replicas > 0) waits.set(redis, wait);
}

/** After a write a lease depends on: returns once enough replicas have it, else throws. */
export async function replicated(redis: Redis, what: string): Promise<void> {
  const wait = waits.get(redis);
  if (!wait) return;
  const acked = await redis.wait(wait.replicas, wait.timeoutMs);
  if (acked < wait.replicas) {
    throw new RedisNotReplicatedError(
      `${what}: ${acked} of ${wait.replicas} Redis replicas acknowledged it within ${wait.timeoutMs} ms, so it might not survive a failover`,
      { hint: 'check the replicas (`INFO replication` on the primary); the operation is safe to retry' },
    );
  }
}

// Redis restarted with its data lost: the service stopped, its data files (the AOF and any RDB in
// STATE/redis) deleted, started again empty. Everything of the present tense is gone at once:
// jobs, autokill leases, disk leases, placements, registrations, cookie nonces. What ferry does
// then is in hosts/agent/redis-epoch.ts; this fault only breaks it. It acts on the Redis that
// `cfg` names and that ferry started (stopService refuses an external one): on a shared stack it
// wipes everyone's state, so tests run it on a Redis of their own (FERRY_STATE_DIR and
// FERRY_REDIS_PORT of their own).
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { runHostOperation } from '../cli/host-operation.ts';
import { guestStatusOn } from '../lab/cluster-state.ts';
import { claimPlacement } from '../infra/redis/placement.ts';
import { startService, stopService } from '../infra/stack/stack.ts';
import type { Config } from '../infra/config.ts';
import type { Fault } from './fault.ts';

/** Where provisioning keeps Redis's data (infra/redis/service.ts: `--dir STATE/redis`). */
export function redisDataDir(cfg: Config): string {
  return join(cfg.stateDir, 'redis');
}

/** Stops Redis, deletes its data, starts it again after `downMs`. */
export async function wipeRedis(cfg: Config, downMs = 0, log: (line: string) => void = () => undefined) {
  await stopService(cfg, 'redis', log);
  await rm(redisDataDir(cfg), { recursive: true, force: true });
  if (downMs > 0) await sleep(downMs);
  await startService(cfg, 'redis', log);
}

export function redisDataLoss(opts: { downMs?: number } = {}): Fault {
  const downMs = opts.downMs ?? 1000;
  return {
    name: 'redis-data-loss',
    description: `Redis stopped, its data files deleted, started again empty after ${downMs} ms`,
    async inject(target) {
      await wipeRedis(target.cfg, downMs, (line) => target.log.info(line));
    },
    /**
     * Lost after the switchover, the migration rolls back and the source stays paused, its disks'
     * lockstate gone: step 3 of the Redis runbook in docs/drills.md, `ferry guest resume VM --host
     * SOURCE`, when no other host runs it (the resume takes the disk leases first and is refused if
     * anyone holds them).
     */
    async operatorStep(target, outcome) {
      if (outcome !== 'rolled-back') return undefined;
      const { cfg, redis, vm, source } = target;
      const status = await guestStatusOn(cfg, source, vm);
      if (!status || status.running) return undefined;
      await runHostOperation(cfg, source, 'resumeGuest', vm);
      await claimPlacement(redis, vm, source);
      return `resumed ${vm} on ${source} (paused as ${status.status}), as the runbook says`;
    },
  };
}

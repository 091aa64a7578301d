// Redis losing its data (restarted without its AOF, flushed, replaced) must not go unnoticed: the
// present tense of the cluster lives there (placements, disk leases, autokill leases, jobs,
// registrations, cookie nonces). The first agent to find Redis without an epoch key sets one (a
// random id); every agent remembers the epoch it saw, on disk, and compares at each heartbeat.
// A missing key or another id means the data it knew of is gone. Then, safe before available:
//
// - a guest that runs here re-asserts its placement and its disk leases (it is the one writer of
//   its disks: nothing else can have run it since, or the lock manager would have said so); if
//   another host got there first, this copy is paused (never two writers) and reported;
// - an incoming guest is left to the autokill reaper: its lease is gone, so it is killed, and the
//   migration's Finish, finding no lease to claim, fails and rolls back;
// - a guest that is paused here (a source after the switchover, or paused by an operator) does
//   not re-assert anything: the lockstate of its disks can no longer be checked, so it stays
//   paused and is reported, as libvirt leaves a domain paused when it cannot re-acquire its leases.
//   The operator decides: `ferry guest kill VM` if it runs elsewhere, else resume it by hand;
// - fencing tokens go on growing: the first host to notice raises the generation floor, so every
//   disk lease taken after the loss gets a token above every token of before it; and a cookie of
//   before the loss is refused (its nonce is forgotten: infra/redis/cookie-nonces.ts).
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Redis } from 'ioredis';
import type { Logger } from '../../infra/logging/logger.ts';
import { isDiskLeaseError, raiseGenerationFloor } from '../../infra/redis/disk-leases.ts';
import { currentEpoch } from '../../infra/redis/epoch.ts';
import { claimPlacement } from '../../infra/redis/placement.ts';
import type { GuestManager } from './guests.ts';
import type { GuestLeases } from './recorded-leases.ts';

export { EPOCH_KEY } from '../../infra/redis/epoch.ts';

export type EpochCheck = { lost: false } | { lost: true; was: string; now: string };

/** The epoch of ferry's Redis as this host last saw it, kept in the host's state dir. */
export class RedisEpoch {
  private known: string | undefined;
  private readonly file: string;

  constructor(
    private readonly redis: Redis,
    hostDir: string,
  ) {
    this.file = join(hostDir, 'redis-epoch');
    this.known = existsSync(this.file) ? readFileSync(this.file, 'utf8').trim() || undefined : undefined;
  }

  /**
   * Sets the epoch if Redis has none, and says whether the one this host knew is gone. A loss is
   * reported at every check until accept(): the host records the new epoch only once it has
   * recovered from the loss, so a recovery that failed half-way is tried again at the next beat.
   */
  async check(): Promise<EpochCheck> {
    const current = await currentEpoch(this.redis);
    const was = this.known;
    if (was === undefined) this.accept(current);
    if (was === undefined || was === current) return { lost: false };
    return { lost: true, was, now: current };
  }

  /** Records `epoch` as the one this host now knows (on disk, for its next start). */
  accept(epoch: string): void {
    writeFileSync(this.file, epoch + '\n');
    this.known = epoch;
  }
}

export interface ReassertDeps {
  host: string;
  redis: Redis;
  guests: GuestManager;
  leases: GuestLeases;
  /** Incoming guests under autokill: the reaper's, not re-asserted. */
  incoming(): string[];
  log: Logger;
}

export interface ReassertReport {
  /** Running guests whose placement and disk leases were taken again. */
  reasserted: string[];
  /** Paused guests left paused: their disks' lockstate can no longer be checked. */
  leftPaused: string[];
  /** Running guests another host had claimed first: paused here. */
  conflicts: { vm: string; holder: string }[];
  /** Incoming guests left to autokill. */
  incoming: string[];
}

/** What a host does once it learned that Redis lost its data (see the header). */
export async function reassertAfterLoss(deps: ReassertDeps): Promise<ReassertReport> {
  const { host, guests, log } = deps;
  // Before anything is leased again: fencing tokens must not start again at 1.
  await raiseGenerationFloor(deps.redis);
  const report: ReassertReport = { reasserted: [], leftPaused: [], conflicts: [], incoming: [] };
  const incoming = new Set(deps.incoming());
  for (const { vm } of guests.list()) {
    if (!guests.has(vm)) continue;
    const def = guests.definition(vm);
    if (def.incoming || incoming.has(vm)) {
      report.incoming.push(vm);
      continue;
    }
    const { running } = await guests.qmp(vm).execute('query-status');
    if (!running) {
      report.leftPaused.push(vm);
      continue;
    }
    const other = await claimPlacement(deps.redis, vm, host);
    if (other !== null && other !== host) {
      await pauseForConflict(deps, vm, `its placement names ${other}`);
      report.conflicts.push({ vm, holder: other });
      continue;
    }
    try {
      await deps.leases.acquire({ host, vm }, def.disks);
      report.reasserted.push(vm);
    } catch (err) {
      if (!isDiskLeaseError(err)) throw err;
      const holder = err.holder ? `${err.holder.vm} on ${err.holder.host}` : 'another holder';
      await pauseForConflict(deps, vm, `disk ${err.disk} is held by ${holder}`);
      report.conflicts.push({ vm, holder });
    }
  }
  log.error('Redis lost its data: placements and disk leases re-asserted for the guests running here', {
    host,
    ...report,
    hint:
      report.leftPaused.length > 0
        ? `paused guests stay paused: if one runs elsewhere, \`ferry guest kill VM --host ${host}\`; if it runs nowhere, \`ferry guest resume VM --host ${host}\` (takes its disk leases first)`
        : undefined,
  });
  return report;
}

async function pauseForConflict(deps: ReassertDeps, vm: string, why: string): Promise<void> {
  await deps.guests.qmp(vm).execute('stop');
  deps.log.error('Redis lost its data and another host claimed this guest first: paused here', {
    vm,
    host: deps.host,
    why,
  });
}

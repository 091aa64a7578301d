// The agent's view of the lock manager: every acquire and release of a guest's disk leases is also
// an event, so the log shows which host held which disk when (the audit checks that leases go only
// with running guests).
import type { DiskLeases } from '../../infra/redis/disk-leases.ts';
import type { Lockstate } from '../../infra/redis/lockstate.ts';
import type { Outbox } from '../outbox/outbox.ts';

export type GuestLeases = Pick<DiskLeases, 'acquire' | 'release'>;

export function recordedLeases(leases: DiskLeases, outbox: Outbox): GuestLeases {
  return {
    async acquire(holder, disks, lockstate?: Lockstate) {
      const held = await leases.acquire(holder, disks, lockstate);
      outbox.record({
        type: 'disk.leased',
        vm: holder.vm,
        data: { disks: held.map((l) => l.disk), tokens: held.map((l) => l.token) },
      });
      return held;
    },
    async release(holder, disks) {
      const lockstate = await leases.release(holder, disks);
      outbox.record({ type: 'disk.released', vm: holder.vm, data: { disks } });
      return lockstate;
    },
  };
}

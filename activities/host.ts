// The guest operations a host agent offers on its own task queue (`host.<name>`): what `ferry guest
// ...` runs. The changing ones are refused while a migration job holds the VM (libvirt lets only
// queries through during an async job); a guest runs only with its disk leases held.
import { guestMemoryDigest } from '../hosts/agent/digest.ts';
import { GuestDefinitionSchema, type GuestDefinitionInput } from '../hosts/agent/guest-definition.ts';
import type { GuestManager } from '../hosts/agent/guests.ts';
import type { HostGuest } from '../hosts/agent/host-guest.ts';
import type { GuestLeases } from '../hosts/agent/recorded-leases.ts';
import type { JobStore } from '../infra/redis/jobs.ts';
import { asPhase } from './migration/refuse.ts';

export interface HostActivityDeps {
  host: string;
  guests: GuestManager;
  jobs: JobStore;
  leases: GuestLeases;
}

export interface GuestDigest {
  vm: string;
  host: string;
  digest: string;
}

export type { HostGuest } from '../hosts/agent/host-guest.ts';

export function createHostActivities(deps: HostActivityDeps) {
  const { guests, host, jobs } = deps;
  /** A changing operation: refused while a migration job holds the VM here, unless it is that migration's. */
  const changing = async <T>(vm: string, run: () => Promise<T>, migrationId?: string | null): Promise<T> =>
    asPhase(async () => {
      await jobs.assertFree(vm, host, migrationId ?? undefined);
      return run();
    });
  return {
    async startGuest(input: GuestDefinitionInput): Promise<{ vm: string; host: string; pid: number }> {
      const def = GuestDefinitionSchema.parse(input);
      return changing(def.vm, async () => {
        await deps.leases.acquire({ host, vm: def.vm }, def.disks);
        try {
          const { pid } = await guests.start(def);
          return { vm: def.vm, host, pid };
        } catch (err) {
          await deps.leases.release({ host, vm: def.vm }, def.disks);
          throw err;
        }
      });
    },
    async guestStatus(vm: string): Promise<{ vm: string; host: string; status: string; running: boolean }> {
      const { status, running } = await guests.qmp(vm).execute('query-status');
      return { vm, host, status, running };
    },
    async pauseGuest(vm: string): Promise<void> {
      await changing(vm, () => guests.qmp(vm).execute('stop'));
    },
    /**
     * A guest runs only with its disk leases held: they are taken first (a no-op when this guest
     * holds them), so a guest that lost them (Redis lost its data) resumes only if nobody else
     * took its disks meanwhile, and is refused (LEASE_HELD, naming the holder) otherwise.
     */
    async resumeGuest(vm: string): Promise<void> {
      await changing(vm, async () => {
        await deps.leases.acquire({ host, vm }, guests.definition(vm).disks);
        await guests.qmp(vm).execute('cont');
      });
    },
    async killGuest(vm: string, reason: string, migrationId: string | null = null): Promise<void> {
      await changing(vm, () => guests.kill(vm, reason, migrationId), migrationId);
    },
    /** Orderly stop: the guest is asked to quit, then forgotten. */
    async stopGuest(vm: string): Promise<void> {
      await changing(vm, async () => {
        await guests
          .qmp(vm)
          .execute('quit')
          .catch(() => undefined);
        await guests.kill(vm, 'stopped by operator');
      });
    },
    /** The guests running here (the guest manager is authoritative, Redis only mirrors it). */
    async listGuests(): Promise<HostGuest[]> {
      return guests.describe();
    },
    async guestDigest(vm: string): Promise<GuestDigest> {
      return { vm, host, digest: await guestMemoryDigest(guests, vm) };
    },
  };
}

export type HostActivities = ReturnType<typeof createHostActivities>;

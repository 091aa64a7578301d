// The guest operations a host agent offers on its own task queue (`host.<name>`). The v3
// migration's phases will be built on these; for now they are what `ferry guest ...` runs.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { GuestDefinitionInput } from '../hosts/agent/guest-definition.ts';
import type { GuestManager } from '../hosts/agent/guests.ts';
import { qemuMemoryDigest } from '../hosts/guests/qemu/digest.ts';

export interface HostActivityDeps {
  host: string;
  guests: GuestManager;
  /** Memory this host offers to guests. */
  memoryMiB: number;
}

export interface GuestDigest {
  vm: string;
  host: string;
  digest: string;
}

export function createHostActivities(deps: HostActivityDeps) {
  const { guests, host } = deps;
  return {
    async startGuest(def: GuestDefinitionInput): Promise<{ vm: string; host: string; pid: number }> {
      const { pid } = await guests.start(def);
      return { vm: def.vm, host, pid };
    },
    async guestStatus(vm: string): Promise<{ vm: string; host: string; status: string; running: boolean }> {
      const { status, running } = await guests.qmp(vm).execute('query-status');
      return { vm, host, status, running };
    },
    async pauseGuest(vm: string): Promise<void> {
      await guests.qmp(vm).execute('stop');
    },
    async resumeGuest(vm: string): Promise<void> {
      await guests.qmp(vm).execute('cont');
    },
    async killGuest(vm: string, reason: string): Promise<void> {
      await guests.kill(vm, reason);
    },
    /** Orderly stop: the guest is asked to quit, then forgotten. */
    async stopGuest(vm: string): Promise<void> {
      await guests
        .qmp(vm)
        .execute('quit')
        .catch(() => undefined);
      await guests.kill(vm, 'stopped by operator');
    },
    async guestDigest(vm: string): Promise<GuestDigest> {
      const def = guests.definition(vm);
      if (def.kind === 'emulated') {
        return { vm, host, digest: (await guests.qmp(vm).execute('x-ferry-digest')).digest };
      }
      const scratch = mkdtempSync(join(tmpdir(), 'ferry-digest-'));
      try {
        return { vm, host, digest: await qemuMemoryDigest(guests.qmp(vm), def.memoryMiB, scratch) };
      } finally {
        rmSync(scratch, { recursive: true, force: true });
      }
    },
  };
}

export type HostActivities = ReturnType<typeof createHostActivities>;

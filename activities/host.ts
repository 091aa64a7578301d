// The guest operations a host agent offers on its own task queue (`host.<name>`). The v3
// migration's phases will be built on these; for now they are what `ferry guest ...` runs.
import { Context } from '@temporalio/activity';
import { guestMemoryDigest } from '../hosts/agent/digest.ts';
import type { GuestDefinitionInput } from '../hosts/agent/guest-definition.ts';
import type { GuestManager } from '../hosts/agent/guests.ts';
import {
  migrateOut,
  prepareIncoming,
  waitIncoming,
  type MigrateOutInput,
  type MigrationDeps,
  type PrepareIncomingInput,
} from '../hosts/agent/migration.ts';

export interface HostActivityDeps extends MigrationDeps {
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
    /** Speed and downtime changed on the fly (libvirt's migrate-setspeed / setmaxdowntime). */
    async setMigrationParameters(
      vm: string,
      params: { maxBandwidthBytesPerSec?: number; downtimeLimitMs?: number },
    ): Promise<void> {
      const args: Record<string, number> = {};
      if (params.maxBandwidthBytesPerSec !== undefined)
        args['max-bandwidth'] = params.maxBandwidthBytesPerSec;
      if (params.downtimeLimitMs !== undefined) args['downtime-limit'] = params.downtimeLimitMs;
      await guests.qmp(vm).execute('migrate-set-parameters', args);
    },
    async killGuest(vm: string, reason: string, migrationId: string | null = null): Promise<void> {
      await guests.kill(vm, reason, migrationId);
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
      return { vm, host, digest: await guestMemoryDigest(guests, vm) };
    },
    async prepareIncoming(input: PrepareIncomingInput) {
      return prepareIncoming(deps, input);
    },
    /** Heartbeats its progress (like domjobinfo); the workflow sets the heartbeat timeout. */
    async migrateOut(input: MigrateOutInput) {
      return migrateOut(deps, input, (p) => Context.current().heartbeat(p));
    },
    async waitIncoming(input: { migrationId: string; vm: string; timeoutMs: number }) {
      return waitIncoming(deps, input);
    },
  };
}

export type HostActivities = ReturnType<typeof createHostActivities>;

// The live system, as far as the audit compares it with the log: placements, disk leases, host
// registrations and migration jobs in Redis, and the migrations Temporal still runs. Read for a
// scope (the VMs, disks and hosts the log names), or for everything when the audit is unscoped.
import type { Client } from '@temporalio/client';
import type { Redis } from 'ioredis';
import { HostRegistry } from '../hosts/agent/registration.ts';
import { DiskLeases } from '../infra/redis/disk-leases.ts';
import { JobStore } from '../infra/redis/jobs.ts';
import { placementOf } from '../infra/redis/placement.ts';
import { allPlacements } from '../infra/redis/placement-scan.ts';

export interface LiveHost {
  name: string;
  /** Registered with a heartbeat that has not lapsed. */
  up: boolean;
  uuid: string | null;
  /** The data plane, address:port. */
  address: string | null;
}

export interface LiveJob {
  vm: string;
  host: string;
  job: string;
  phase: string;
  /** The migration id. */
  owner: string;
}

export interface LiveState {
  /** VM → host, null where Redis has no placement. */
  placements: Map<string, string | null>;
  /** Disk → holder, null where the disk is free or unknown. */
  disks: Map<string, { host: string; vm: string; token: number } | null>;
  hosts: Map<string, LiveHost>;
  jobs: LiveJob[];
  /** The 'migrate' workflows Temporal runs now; null if Temporal could not be asked. */
  runningWorkflows: Set<string> | null;
}

export interface LiveScope {
  vms: string[];
  disks: string[];
  hosts: string[];
  /** Also what the log does not name: every placement, registration and lease in Redis. */
  everything: boolean;
}

export async function readLive(redis: Redis, scope: LiveScope, temporal: Client | null): Promise<LiveState> {
  const registry = new HostRegistry(redis);
  const leases = new DiskLeases(redis);
  const jobs = new JobStore(redis);
  const registered = await registry.list();
  const hostNames = new Set(scope.hosts);
  if (scope.everything) for (const r of registered) hostNames.add(r.name);
  const hosts = new Map<string, LiveHost>();
  for (const name of hostNames) {
    const r = registered.find((x) => x.name === name)?.registration;
    hosts.set(name, {
      name,
      up: r !== undefined,
      uuid: r?.uuid ?? null,
      address: r ? `${r.address}:${r.dataPort}` : null,
    });
  }

  const inScope = (vm: string) => scope.everything || scope.vms.includes(vm);
  const placements = new Map<string, string | null>();
  for (const vm of scope.vms) placements.set(vm, await placementOf(redis, vm));
  if (scope.everything) for (const [vm, host] of await allPlacements(redis)) placements.set(vm, host);

  const disks: LiveState['disks'] = new Map();
  for (const disk of scope.disks) {
    const l = await leases.holderOf(disk);
    disks.set(disk, l ? { host: l.host, vm: l.vm, token: l.token } : null);
  }
  const liveJobs: LiveJob[] = [];
  for (const host of hostNames) {
    // Leases and jobs the log may not know of: what each host holds.
    for (const l of await leases.heldBy(host)) {
      if (inScope(l.vm)) disks.set(l.disk, { host: l.host, vm: l.vm, token: l.token });
    }
    for (const j of await jobs.listForHost(host)) {
      if (inScope(j.vm))
        liveJobs.push({ vm: j.vm, host: j.host, job: j.job, phase: j.phase, owner: j.owner });
    }
  }
  return { placements, disks, hosts, jobs: liveJobs, runningWorkflows: await runningMigrations(temporal) };
}

async function runningMigrations(temporal: Client | null): Promise<Set<string> | null> {
  if (!temporal) return null;
  try {
    const ids = new Set<string>();
    const query = "WorkflowType = 'migrate' AND ExecutionStatus = 'Running'";
    for await (const wf of temporal.workflow.list({ query })) ids.add(wf.workflowId);
    return ids;
  } catch {
    return null;
  }
}

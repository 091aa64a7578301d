// What every migration test checks at its end (the invariants of docs/architecture.md, as far as
// the live system shows them): the VM runs on exactly one host, nothing of the migration is left in
// Redis (jobs, autokill lease), its disk lease is held by the host it runs on, its placement names
// that host.
import assert from 'node:assert/strict';
import type { Redis } from 'ioredis';
import type { HostActivities } from '../activities/host.ts';
import { HostOperationError, runHostOperation } from '../cli/host-operation.ts';
import type { Config } from '../infra/config.ts';
import { AutokillLeases } from '../infra/redis/autokill.ts';
import { DiskLeases } from '../infra/redis/disk-leases.ts';
import { JobStore } from '../infra/redis/jobs.ts';
import { placementOf } from '../infra/redis/placement.ts';

/**
 * `vm`'s run state on `host`, or undefined when that host's agent answers that it has no such
 * guest. Any other failure (the agent down, Temporal unreachable, QMP not answering) is thrown:
 * it says nothing about where the guest is, and must not pass for "not there".
 */
export async function guestStatusOn(
  cfg: Config,
  host: string,
  vm: string,
): Promise<Awaited<ReturnType<HostActivities['guestStatus']>> | undefined> {
  try {
    return await runHostOperation(cfg, host, 'guestStatus', vm);
  } catch (err) {
    // The agent's GuestError (GUEST_UNKNOWN), as runHostOperation reports its root cause.
    const unknown = `guestStatus on ${host} failed: ${vm} on ${host}: no such guest on this host`;
    if (err instanceof HostOperationError && err.message === unknown) return undefined;
    throw err;
  }
}

export async function assertSettled(
  cfg: Config,
  redis: Redis,
  vm: string,
  hosts: string[],
  expect: { runsOn: string; running?: boolean },
): Promise<void> {
  for (const host of hosts) {
    const status = await guestStatusOn(cfg, host, vm);
    if (host === expect.runsOn) {
      assert.ok(status, `${vm} runs on ${host}`);
      assert.equal(status.running, expect.running ?? true, `${vm} on ${host} is ${status.status}`);
    } else {
      assert.equal(status, undefined, `${vm} must not exist on ${host}`);
    }
    assert.equal(await new JobStore(redis).get(vm, host), undefined, `no job of ${vm} left on ${host}`);
  }
  assert.equal(await new AutokillLeases(redis).holder(vm), undefined, `no autokill lease of ${vm} left`);
  const lease = await new DiskLeases(redis).holderOf(`${vm}-disk0`);
  if (expect.running ?? true)
    assert.equal(lease?.host, expect.runsOn, `the disk lease of ${vm} is held by ${expect.runsOn}`);
  assert.equal(await placementOf(redis, vm), expect.runsOn, `the placement of ${vm} names ${expect.runsOn}`);
}

// A small cluster for the drain and rebalance tests: host agents started as a user starts them
// (`ferry host start --detach`), each on its own loopback address, emulated guests started the way
// `ferry guest start` starts them, and a clean-up that kills the test's guests wherever they ended up, stops the
// agents and lifts their drain marks.
import { runHostOperation } from '../cli/host-operation.ts';
import { startGuestOn } from '../cli/guest-start.ts';
import type { Config } from '../infra/config.ts';
import type { Redis } from 'ioredis';
import { DrainMarks } from '../infra/redis/draining.ts';
import { releasePlacement } from '../infra/redis/placement.ts';
import { ferry } from './cli.ts';
import { uniqueName } from './stack.ts';

export interface GuestSpec {
  vm: string;
  memoryMiB: number;
  dirtyRate: number;
}

export interface TestCluster {
  hosts: string[];
  /** Starts these guests on `host`, a few at a time. */
  startGuests(host: string, specs: GuestSpec[]): Promise<void>;
  /** Where each of the test's guests runs, as the agents say (the authority); every agent must answer. */
  whereabouts(): Promise<Map<string, string[]>>;
  startAgent(host: string): Promise<void>;
  stopAgent(host: string): Promise<void>;
  stop(): Promise<void>;
}

/** `count` small guests (32–64 MiB, dirtying 0–500 pages/s), named after `prefix`. */
export function smallGuests(count: number, prefix = 'vm'): GuestSpec[] {
  const run = uniqueName(prefix);
  return Array.from({ length: count }, (_, i) => ({
    vm: `${run}-${String(i).padStart(2, '0')}`,
    memoryMiB: 32 + ((i * 8) % 40),
    dirtyRate: (i * 125) % 625,
  }));
}

/**
 * `ferry guest start`'s own path, in this process: two dozen CLI processes would cost a minute of
 * CPU on a busy CI machine. The command itself is covered by test/agent-cli.test.ts.
 */
async function startGuest(cfg: Config, redis: Redis, host: string, s: GuestSpec): Promise<void> {
  await startGuestOn(cfg, redis, {
    vm: s.vm,
    host,
    kind: 'emulated',
    memoryMiB: s.memoryMiB,
    dirtyPagesPerSecond: s.dirtyRate,
  });
}

export async function startCluster(
  cfg: Config,
  redis: Redis,
  machines: { address: string; memoryMiB: number }[],
  prefix = 'host',
): Promise<TestCluster> {
  const hosts = machines.map(() => uniqueName(prefix));
  const guests = new Set<string>();
  const startAgent = async (host: string) => {
    const m = machines[hosts.indexOf(host)];
    if (!m) throw new Error(`${host} is not a host of this cluster`);
    const r = await ferry(
      'host',
      'start',
      host,
      '--address',
      m.address,
      '--memory',
      String(m.memoryMiB),
      '--detach',
    );
    if (r.status !== 0) throw new Error(`ferry host start ${host}: ${r.stderr.trim()}`);
  };
  const whereabouts = async () => {
    const where = new Map<string, string[]>();
    for (const host of hosts) {
      // An agent that does not answer fails this: its guests are unknown, not absent.
      const listed = await runHostOperation(cfg, host, 'listGuests');
      for (const g of listed) if (guests.has(g.vm)) where.set(g.vm, [...(where.get(g.vm) ?? []), host]);
    }
    return where;
  };
  const stop = async () => {
    for (const host of hosts) {
      const listed = await runHostOperation(cfg, host, 'listGuests').catch(() => []);
      await Promise.all(
        listed
          .filter((x) => guests.has(x.vm))
          .map(async (g) => {
            await runHostOperation(cfg, host, 'killGuest', g.vm, 'test cleanup').catch(() => undefined);
            await releasePlacement(redis, g.vm, host);
          }),
      );
    }
    await Promise.all(hosts.map((h) => ferry('host', 'stop', h)));
    for (const h of hosts) await new DrainMarks(redis).clear(h);
  };
  try {
    await Promise.all(hosts.map(startAgent));
  } catch (err) {
    await stop();
    throw err;
  }
  return {
    hosts,
    async startGuests(host, specs) {
      const queue = [...specs];
      const worker = async () => {
        for (let s = queue.shift(); s; s = queue.shift()) {
          guests.add(s.vm);
          await startGuest(cfg, redis, host, s);
        }
      };
      await Promise.all([worker(), worker(), worker(), worker()]);
    },
    whereabouts,
    startAgent,
    async stopAgent(host) {
      await ferry('host', 'stop', host);
    },
    stop,
  };
}

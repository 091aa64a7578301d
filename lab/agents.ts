// Two host agents for the migration tests (and the tunnel bench), started detached as a user would
// start them, each on a loopback address of its own; the guests started on the first are tracked
// and killed wherever they ended up before the agents stop (guests outlive their agent).
import { runHostOperation } from '../cli/host-operation.ts';
import type { Config } from '../infra/config.ts';
import { ferry } from './cli.ts';
import { uniqueName } from './stack.ts';

export interface TwoAgents {
  /** The first agent: where `startGuest` starts guests, the source of the migrations. */
  source: string;
  destination: string;
  /** Starts (or starts again, after a test killed it) the agent of one of the two hosts. */
  start(host: string): Promise<void>;
  /** `ferry guest start VM --host <source> ...args`; the guest's pid. */
  startGuest(vm: string, ...args: string[]): Promise<number>;
  /** Kills the tracked guests on both hosts, then stops both agents. */
  stop(): Promise<void>;
}

export async function twoAgents(
  cfg: Config,
  addresses: readonly [string, string],
  /** guestRunner: the agents run their emulated guests in a guest runner (`--guest-runner`). */
  opts: { memoryMiB?: number; prefix?: string; guestRunner?: boolean } = {},
): Promise<TwoAgents> {
  const prefix = opts.prefix ?? 'host';
  const hosts = [uniqueName(prefix), uniqueName(prefix)] as const;
  const addressOf = new Map(hosts.map((h, i) => [h, addresses[i]!]));
  const guests: string[] = [];
  const start = async (host: string) => {
    const address = addressOf.get(host);
    if (!address) throw new Error(`${host} is not one of the two agents (${hosts.join(', ')})`);
    const memory = String(opts.memoryMiB ?? 1024);
    const runner = opts.guestRunner ? ['--guest-runner'] : [];
    const r = await ferry(
      'host',
      'start',
      host,
      '--address',
      address,
      '--memory',
      memory,
      ...runner,
      '--detach',
    );
    if (r.status !== 0) throw new Error(`ferry host start ${host}: ${r.stderr.trim()}`);
  };
  const stop = async () => {
    for (const vm of guests) {
      await ferry('guest', 'kill', vm); // where its placement says, and the placement goes
      for (const host of hosts) {
        await runHostOperation(cfg, host, 'killGuest', vm, 'test cleanup').catch(() => undefined);
      }
    }
    for (const host of hosts) await ferry('host', 'stop', host);
  };
  try {
    for (const host of hosts) await start(host);
  } catch (err) {
    await stop();
    throw err;
  }
  return {
    source: hosts[0],
    destination: hosts[1],
    start,
    async startGuest(vm, ...args) {
      guests.push(vm);
      const r = await ferry('guest', 'start', vm, '--host', hosts[0], ...args);
      if (r.status !== 0) throw new Error(`ferry guest start ${vm}: ${r.stderr.trim()}`);
      return Number(/pid (\d+)/.exec(r.stdout)?.[1]);
    },
    stop,
  };
}

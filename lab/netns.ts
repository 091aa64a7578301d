// `ferry lab up|down|status|partition|heal`: a cluster of N hosts on this machine, each in a network
// namespace of its own (ferry-<host>) joined by a veth pair to a bridge the lab made, the stack
// bound to the bridge's address, one agent per namespace with its own state dir. docs/lab.md.
import { performance } from 'node:perf_hooks';
import { join } from 'node:path';
import { FerryError } from '../errors/ferry-error.ts';
import { HostRegistry } from '../hosts/agent/registration.ts';
import { loadConfig, type Config } from '../infra/config.ts';
import { readLivePidFile } from '../infra/process/pid-file.ts';
import { adminIdentity } from '../infra/pki/index.ts';
import { createRedis } from '../infra/redis/client.ts';
import { ensureKeyrings } from '../infra/redis/keyring.ts';
import { servicePidFile, stackDown, stackServices, stackUp } from '../infra/stack/stack.ts';
import { HostNameSchema } from '../protocol/names.ts';
import { stopController } from '../workers/controller/daemon.ts';
import {
  killLabHostProcesses,
  labAgentFiles,
  provisionLabHost,
  startLabAgent,
  stopLabAgent,
} from './netns-host.ts';
import {
  hostLink,
  hostLinkUp,
  labAddress,
  linkExists,
  makeBridge,
  makeHostLink,
  removeBridge,
  removeHostLink,
  setHostLink,
} from './netns-links.ts';
import {
  labDir,
  readLabState,
  removeLabState,
  writeLabState,
  type LabHost,
  type LabState,
} from './netns-state.ts';

export class LabError extends FerryError {
  readonly code = 'LAB_REFUSED';
}

export const MAX_LAB_HOSTS = 200;

/** Network namespaces, veth links and bridges are root's to make. */
export function requireRoot(what: string): void {
  if (process.getuid?.() !== 0) {
    throw new LabError(
      `ferry lab ${what} needs root (it makes network namespaces, veth links and a bridge)`,
      {
        hint: `run it as root: sudo npx ferry lab ${what}`,
      },
    );
  }
}

/**
 * The configuration of everything that talks to the lab's stack: the environment's, with the
 * stack bound to (and reached at) the bridge's address. `env` is what loadConfig reads.
 */
export function labConfig(env: NodeJS.ProcessEnv, bridgeAddress: string): Config {
  return loadConfig({
    ...env,
    FERRY_BIND_HOST: bridgeAddress,
    FERRY_TEMPORAL_ADDRESS: undefined,
    FERRY_KAFKA_BROKERS: undefined,
    FERRY_REDIS_URL: undefined,
  });
}

export interface LabUpOptions {
  hosts: number;
  prefix: string;
  memoryMiB: number;
}

export interface LabUp {
  state: LabState;
  cfg: Config;
  seconds: number;
}

/**
 * Builds the lab: bridge, stack, then each host's namespace, link, state dir and agent. Every
 * object is recorded before it is made; on a failure what was made is removed again (labDown)
 * and the failure is thrown.
 */
export async function labUp(
  env: NodeJS.ProcessEnv,
  opts: LabUpOptions,
  log: (line: string) => void,
): Promise<LabUp> {
  requireRoot('up');
  const started = performance.now();
  const base = loadConfig({ ...env, FERRY_BIND_HOST: undefined });
  if (!Number.isInteger(opts.hosts) || opts.hosts < 1 || opts.hosts > MAX_LAB_HOSTS) {
    throw new LabError(`--hosts must be a whole number from 1 to ${MAX_LAB_HOSTS}, not ${opts.hosts}`);
  }
  const names = Array.from({ length: opts.hosts }, (_, i) => HostNameSchema.parse(`${opts.prefix}-${i + 1}`));
  const existing = readLabState(base);
  if (existing) {
    throw new LabError(`a lab of ${existing.hosts.length} hosts is up (state ${labDir(base)})`, {
      hint: 'ferry lab down first',
    });
  }
  const running = stackServices(base).filter((s) => servicePidFile(base, s.name) !== undefined);
  if (running.length > 0) {
    throw new LabError(
      `the stack of ${base.stateDir} runs (${running.map((s) => s.name).join(', ')}); a lab binds its stack to its own bridge`,
      { hint: 'ferry stack down first, or give the lab a state dir of its own (FERRY_STATE_DIR)' },
    );
  }
  const bridge = base.lab.bridge;
  if (linkExists(bridge)) {
    throw new LabError(`an interface ${bridge} exists already (another lab?); the lab makes its own bridge`, {
      hint: 'ferry lab down with the state dir that made it, or set FERRY_LAB_BRIDGE',
    });
  }
  const bridgeAddress = labAddress(base.lab.subnet, 1);
  const state: LabState = {
    version: 1,
    bridge,
    bridgeAddress,
    subnet: base.lab.subnet,
    stackStarted: false,
    hosts: [],
    createdAt: new Date().toISOString(),
  };
  writeLabState(base, state);
  try {
    makeBridge(bridge, bridgeAddress);
    log(`bridge ${bridge} ${bridgeAddress}/24`);
    const cfg = labConfig(env, bridgeAddress);
    state.stackStarted = true;
    writeLabState(base, state);
    await stackUp(cfg, log);
    if (cfg.keyring.enabled) await firstKeys(cfg, log);
    for (const [i, name] of names.entries()) {
      const link = hostLink(name, i + 1, state.subnet);
      const host: LabHost = {
        name,
        index: i + 1,
        ...link,
        stateDir: join(labDir(base), 'hosts', name),
        memoryMiB: opts.memoryMiB,
      };
      state.hosts.push(host);
      writeLabState(base, state);
      makeHostLink(link, bridge);
      await provisionLabHost(cfg, host);
    }
    // Two at a time: ten agents starting at once on two cores each take long enough to starve the rest.
    const queue = [...state.hosts];
    await Promise.all(
      [0, 1].map(async () => {
        for (let host = queue.shift(); host; host = queue.shift()) {
          const rec = await startLabAgent(cfg, host);
          log(`host ${host.name} up in ${host.netns} at ${host.address} (pid ${rec.pid})`);
        }
      }),
    );
    return { state, cfg, seconds: (performance.now() - started) / 1000 };
  } catch (err) {
    await labDown(env, () => undefined).catch(() => undefined);
    throw err;
  }
}

/**
 * The keyrings' first keys, as the stack's admin (idempotent): the lab's agents may only read the
 * rings, and the operator of a lab has run nothing yet that would make them.
 */
async function firstKeys(cfg: Config, log: (line: string) => void): Promise<void> {
  const redis = createRedis(cfg, 'ferry-lab', cfg.security.enabled ? { identity: adminIdentity(cfg) } : {});
  try {
    const made = await ensureKeyrings(redis);
    if (made.length > 0) log(`keyrings: first key of ${made.join(', ')}`);
  } finally {
    redis.disconnect();
  }
}

export interface LabDown {
  hosts: number;
  agents: number;
  processes: number;
}

/**
 * Removes exactly what the lab state file records: each host's agent and the processes it left
 * (by their pid files), its namespace and link, the stack if the lab started it (with the
 * operator's controller of its state dir), the bridge. A lab that is not up: nothing to do.
 */
export async function labDown(env: NodeJS.ProcessEnv, log: (line: string) => void): Promise<LabDown> {
  requireRoot('down');
  const base = loadConfig({ ...env, FERRY_BIND_HOST: undefined });
  const state = readLabState(base);
  if (!state) return { hosts: 0, agents: 0, processes: 0 };
  let agents = 0;
  let processes = 0;
  // Agents first, while their links still carry the deregistration and the last events.
  await Promise.all(
    state.hosts.map(async (host) => {
      if (hostLinkUp(host) === false) setHostLink(host, 'up');
      if ((await stopLabAgent(host)) !== 'gone') agents++;
      processes += await killLabHostProcesses(host);
    }),
  );
  for (const host of state.hosts) {
    removeHostLink(host);
    log(`host ${host.name}: namespace ${host.netns} and link ${host.hostSide} removed`);
  }
  if (state.stackStarted) {
    // A bridge removed by hand leaves no address to configure clients with; what stopping the
    // services and the controller needs is their pid files, which the state dir names.
    const cfg = linkExists(state.bridge)
      ? labConfig(env, state.bridgeAddress)
      : { ...base, bindHost: state.bridgeAddress };
    // The operator's controller of this state dir (`ferry migrate` starts one) serves the lab's
    // stack alone: it goes with it, by its pid file.
    const controller = await stopController(cfg);
    if (controller.pid !== null) log(`controller (pid ${controller.pid}) ${controller.outcome}`);
    await stackDown(cfg, log);
  }
  removeBridge(state.bridge);
  log(`bridge ${state.bridge} removed`);
  removeLabState(base);
  return { hosts: state.hosts.length, agents, processes };
}

export interface LabHostStatus {
  name: string;
  netns: string;
  address: string;
  link: 'up' | 'down' | 'gone';
  agent: 'running' | 'stopped';
  pid?: number;
  registered: boolean;
}

export interface LabStatus {
  up: boolean;
  bridge?: string;
  bridgeAddress?: string;
  hosts: LabHostStatus[];
}

export async function labStatus(env: NodeJS.ProcessEnv): Promise<LabStatus> {
  const base = loadConfig({ ...env, FERRY_BIND_HOST: undefined });
  const state = readLabState(base);
  if (!state) return { up: false, hosts: [] };
  const registered = new Set<string>();
  if (linkExists(state.bridge)) {
    const redis = createRedis(labConfig(env, state.bridgeAddress), 'ferry-lab');
    try {
      const registry = new HostRegistry(redis);
      for (const h of state.hosts)
        if (await registry.read(h.name).catch(() => undefined)) registered.add(h.name);
    } finally {
      redis.disconnect();
    }
  }
  return {
    up: true,
    bridge: state.bridge,
    bridgeAddress: state.bridgeAddress,
    hosts: state.hosts.map((h) => {
      const up = hostLinkUp(h);
      const rec = readLivePidFile(labAgentFiles(h).pid);
      return {
        name: h.name,
        netns: h.netns,
        address: h.address,
        link: up === undefined ? 'gone' : up ? 'up' : 'down',
        agent: rec ? 'running' : 'stopped',
        ...(rec ? { pid: rec.pid } : {}),
        registered: registered.has(h.name),
      };
    }),
  };
}

/** The lab's record of `name`, or a one-line refusal naming the lab's hosts. */
export function labHost(env: NodeJS.ProcessEnv, name: string): { state: LabState; host: LabHost } {
  const base = loadConfig({ ...env, FERRY_BIND_HOST: undefined });
  const state = readLabState(base);
  if (!state)
    throw new LabError(`no lab is up (state dir ${base.stateDir})`, { hint: 'ferry lab up --hosts 3' });
  const host = state.hosts.find((h) => h.name === name);
  if (!host) {
    throw new LabError(`${name} is not a host of the lab (${state.hosts.map((h) => h.name).join(', ')})`);
  }
  return { state, host };
}

/** Cuts (down) or restores (up) the host's link for real: its port on the bridge. */
export function setLabLink(env: NodeJS.ProcessEnv, name: string, state: 'up' | 'down'): LabHost {
  requireRoot(state === 'down' ? 'partition' : 'heal');
  const { host } = labHost(env, name);
  setHostLink(host, state);
  return host;
}

/**
 * `ferry demo --lab`: the lab's stack configuration and its first `hosts` hosts, whose agents must
 * be up (the demo starts none: they run in their namespaces). The lab names its hosts PREFIX-1…,
 * as the demo names its own, so the demo runs under the lab's prefix.
 */
export async function labForDemo(
  env: NodeJS.ProcessEnv,
  hosts: number,
): Promise<{ cfg: Config; prefix: string; hosts: LabHost[] }> {
  const base = loadConfig({ ...env, FERRY_BIND_HOST: undefined });
  const state = readLabState(base);
  if (!state)
    throw new LabError(`no lab is up (state dir ${base.stateDir})`, {
      hint: `ferry lab up --hosts ${hosts}`,
    });
  if (state.hosts.length < hosts) {
    throw new LabError(
      `the demo needs a lab of at least ${hosts} hosts; this one has ${state.hosts.length}`,
      {
        hint: `ferry lab down && ferry lab up --hosts ${hosts}`,
      },
    );
  }
  const chosen = state.hosts.slice(0, hosts);
  const cfg = labConfig(env, state.bridgeAddress);
  const redis = createRedis(cfg, 'ferry-lab');
  try {
    const registry = new HostRegistry(redis);
    for (const h of chosen) {
      if (!(await registry.read(h.name))) {
        throw new LabError(
          `lab host ${h.name}'s agent is not registered (its link down, or its agent stopped)`,
          {
            hint: `ferry lab status; ferry lab heal ${h.name}`,
          },
        );
      }
    }
  } finally {
    redis.disconnect();
  }
  return { cfg, prefix: chosen[0]!.name.replace(/-1$/, ''), hosts: chosen };
}

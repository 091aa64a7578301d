// A drill's own cluster: two host agents started as `ferry host start --detach` starts them (on
// loopback addresses of the drill range 127.0.1.1–60, each through the links a links provider
// opens for it), a controller process on the drill's own task queue, one emulated guest. It is
// the `DrillTarget` the faults act on, and it cleans up exactly what it started, by pid.
// On a lab (`openOnLab`) its hosts are two of the lab's, each in its own network namespace: their
// agents are the lab's (restarted in their namespaces after a kill), a partition takes the host's
// link down, and clean-up leaves the agents and other guests to the lab.
import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { readdirSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Client } from '@temporalio/client';
import type { Redis } from 'ioredis';
import { runHostOperation } from '../cli/host-operation.ts';
import { controllerPid, ensureController, stopController } from '../workers/controller/daemon.ts';
import { controllerFiles, controllerOutbox } from '../workers/controller/files.ts';
import { FerryError } from '../errors/ferry-error.ts';
import { hostStateDir } from '../hosts/agent/identity.ts';
import type { Config } from '../infra/config.ts';
import type { Logger } from '../infra/logging/logger.ts';
import { isSameProcessAlive, readLivePidFile, type PidRecord } from '../infra/process/pid-file.ts';
import { createRedis } from '../infra/redis/client.ts';
import { releasePlacement } from '../infra/redis/placement.ts';
import { connectClient } from '../infra/temporal/connect.ts';
import { labAgentFiles, startLabAgent } from '../lab/netns-host.ts';
import { setHostLink } from '../lab/netns-links.ts';
import type { LabHost } from '../lab/netns-state.ts';
import type { DrillTarget } from './fault.ts';

export class DrillSetupError extends FerryError {
  readonly code = 'DRILL_SETUP_FAILED';
}

const CLI = join(import.meta.dirname, '..', 'cli', 'bin.mjs');

/** The drill range: other tests use 127.0.0.x, the demo 127.0.2.x. */
export const DRILL_ADDRESS_COUNT = 60;
export function drillAddress(i: number): string {
  return `127.0.1.${(i % DRILL_ADDRESS_COUNT) + 1}`;
}

/** What a links provider (drills/links.ts) gives an agent: its environment and extra arguments. */
export interface DrillLinks {
  env: Record<string, string>;
  agentArgs: string[];
  close?(): Promise<void>;
}
export type LinksProvider = (cfg: Config, address: string) => Promise<DrillLinks>;

export interface GuestShape {
  memoryMiB: number;
  dirtyRate: number;
}

/** `ferry ...` as a child process; the output is kept for the one-line reason of a failure. */
export function ferryCli(
  args: string[],
  env?: Record<string, string>,
): Promise<{ status: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [CLI, ...args],
      { timeout: 240_000, env: { ...process.env, ...env } },
      (err, stdout, stderr) => {
        resolve({ status: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr });
      },
    );
  });
}

/** The line of a failed command that says why: ferry's own one-line error, else the first line. */
const lastLine = (s: string) => {
  const lines = s.trim().split('\n');
  return lines.find((l) => l.startsWith('ferry:')) ?? lines[0] ?? '';
};

/** The clusters open in this process, for an interrupted drill command to clean up. */
const openClusters = new Set<DrillCluster>();

/** Closes every drill cluster this process has open (on Ctrl-C). */
export async function closeOpenClusters(): Promise<void> {
  await Promise.all([...openClusters].map((c) => c.close()));
}

export class DrillCluster implements DrillTarget {
  migrationId = '';
  /** The guest's process on the source, as it started. */
  guestPid = 0;
  private readonly links = new Map<string, DrillLinks>();

  private constructor(
    readonly cfg: Config,
    readonly redis: Redis,
    readonly client: Client,
    readonly log: Logger,
    readonly vm: string,
    readonly source: string,
    readonly destination: string,
    readonly taskQueue: string,
    private readonly addressOf: Map<string, string>,
    private readonly linksProvider: LinksProvider | undefined,
    /** On a lab: its two hosts, by name. */
    private readonly lab?: Map<string, LabHost>,
  ) {
    // Only on a lab: elsewhere a partition blackholes the host's link proxies.
    if (lab) {
      this.setLink = async (host, state) => {
        const h = lab.get(host);
        if (!h) throw new DrillSetupError(`${host} is not a host of this drill`);
        setHostLink(h, state);
        await Promise.resolve();
      };
    }
  }

  readonly setLink?: (host: string, state: 'up' | 'down') => Promise<void>;

  /**
   * The drill on two hosts of a lab (`cfg`: the lab's, bound to its bridge); a fresh guest name and
   * the drill's own controller, the lab's agents (started if one is down).
   */
  static async openOnLab(cfg: Config, log: Logger, hosts: [LabHost, LabHost]): Promise<DrillCluster> {
    const id = randomUUID().slice(0, 8);
    const cluster = new DrillCluster(
      cfg,
      createRedis(cfg, 'ferry-drill'),
      await connectClient(cfg),
      log,
      `drill-${id}-vm`,
      hosts[0].name,
      hosts[1].name,
      `drill-${id}`,
      new Map(hosts.map((h) => [h.name, h.address])),
      undefined,
      new Map(hosts.map((h) => [h.name, h])),
    );
    openClusters.add(cluster);
    try {
      await cluster.restoreAll();
    } catch (err) {
      await cluster.close();
      throw err;
    }
    return cluster;
  }

  private labHost(host: string): LabHost | undefined {
    return this.lab?.get(host);
  }

  get hosts(): [string, string] {
    return [this.source, this.destination];
  }

  /** Fresh, uniquely named hosts on `addresses`, their agents and the drill's controller. */
  static async open(
    cfg: Config,
    log: Logger,
    addresses: [string, string],
    opts: { linksProvider?: LinksProvider; memoryMiB?: number } = {},
  ): Promise<DrillCluster> {
    const id = randomUUID().slice(0, 8);
    const source = `drill-${id}-a`;
    const destination = `drill-${id}-b`;
    const cluster = new DrillCluster(
      cfg,
      createRedis(cfg, 'ferry-drill'),
      await connectClient(cfg),
      log,
      `drill-${id}-vm`,
      source,
      destination,
      `drill-${id}`,
      new Map([
        [source, addresses[0]],
        [destination, addresses[1]],
      ]),
      opts.linksProvider,
    );
    openClusters.add(cluster);
    try {
      await Promise.all([cluster.startAgent(source), cluster.startAgent(destination)]);
      await cluster.startController();
    } catch (err) {
      await cluster.close();
      throw err;
    }
    return cluster;
  }

  async startGuest(shape: GuestShape): Promise<void> {
    const r = await ferryCli([
      'guest',
      'start',
      this.vm,
      '--host',
      this.source,
      '--memory',
      String(shape.memoryMiB),
      '--dirty-rate',
      String(shape.dirtyRate),
    ]);
    if (r.status !== 0) throw new DrillSetupError(`guest start ${this.vm}: ${lastLine(r.stderr)}`);
    this.guestPid = Number(/pid (\d+)/.exec(r.stdout)?.[1] ?? 0);
  }

  agentPidFile(host: string): string {
    const lab = this.labHost(host);
    return lab ? labAgentFiles(lab).pid : join(hostStateDir(this.cfg.stateDir, host), 'agent.pid');
  }

  agentAlive(host: string): boolean {
    return readLivePidFile(this.agentPidFile(host)) !== undefined;
  }

  async startAgent(host: string): Promise<void> {
    const address = this.addressOf.get(host);
    if (!address) throw new DrillSetupError(`${host} is not a host of this drill`);
    if (this.agentAlive(host)) return;
    const lab = this.labHost(host);
    if (lab) {
      await startLabAgent(this.cfg, lab);
      return;
    }
    let links = this.links.get(host);
    if (!links && this.linksProvider) {
      links = await this.linksProvider(this.cfg, address);
      this.links.set(host, links);
    }
    const r = await ferryCli(
      [
        'host',
        'start',
        host,
        '--address',
        address,
        '--memory',
        '2048',
        '--detach',
        ...(links?.agentArgs ?? []),
      ],
      links?.env,
    );
    if (r.status !== 0) throw new DrillSetupError(`host start ${host}: ${lastLine(r.stderr)}`);
  }

  async killAgent(host: string): Promise<void> {
    await killByPid(readLivePidFile(this.agentPidFile(host)));
  }

  async startController(): Promise<void> {
    await ensureController(this.cfg, this.taskQueue);
  }

  async killController(): Promise<void> {
    await killByPid(controllerPid(this.cfg, this.taskQueue));
  }

  /** Every process of the drill that should run does (after a fault left one down). */
  async restoreAll(): Promise<void> {
    for (const h of this.hosts) await this.startAgent(h);
    await this.startController();
  }

  /** The live guest processes of `host` by their pid files (they outlive the agent): VM → pid. */
  liveGuests(host: string): Map<string, PidRecord> {
    const lab = this.labHost(host);
    const dir = join(lab ? labAgentFiles(lab).dir : hostStateDir(this.cfg.stateDir, host), 'guests');
    const live = new Map<string, PidRecord>();
    let vms: string[] = [];
    try {
      vms = readdirSync(dir);
    } catch {
      return live;
    }
    for (const vm of vms) {
      const rec = readLivePidFile(join(dir, vm, 'guest.pid'));
      if (rec) live.set(vm, rec);
    }
    return live;
  }

  /**
   * Kills the drill's guest wherever it runs (through the agents, then any process left by pid),
   * stops the agents and the controller, closes the links. Never throws: it runs after failures.
   * `removeState`: also deletes the drill hosts' and controller's state dirs (a passed drill's logs
   * are not needed; a failed one keeps them for the post-mortem), so repeated matrix runs do not
   * pile up hundreds of dead hosts' dirs.
   */
  async close(opts: { removeState?: boolean } = {}): Promise<void> {
    if (!openClusters.delete(this)) return;
    for (const host of this.hosts) {
      if (this.agentAlive(host)) {
        await runHostOperation(this.cfg, host, 'killGuest', this.vm, 'drill cleanup').catch(() => undefined);
      }
      await releasePlacement(this.redis, this.vm, host).catch(() => undefined);
    }
    if (this.lab) {
      // The lab's agents and their other guests stay; a partition left in place is healed.
      for (const host of this.lab.values()) setHostLink(host, 'up');
      for (const host of this.hosts) await killByPid(this.liveGuests(host).get(this.vm));
    } else {
      await Promise.all(this.hosts.map((h) => ferryCli(['host', 'stop', h])));
      for (const host of this.hosts) {
        for (const rec of this.liveGuests(host).values()) await killByPid(rec);
      }
    }
    await stopController(this.cfg, this.taskQueue).catch(() => undefined);
    for (const links of this.links.values()) await links.close?.().catch(() => undefined);
    await this.client.connection.close().catch(() => undefined);
    this.redis.disconnect();
    if (opts.removeState) {
      const dirs = [
        ...(this.lab ? [] : this.hosts.map((h) => hostStateDir(this.cfg.stateDir, h))),
        controllerFiles(this.cfg, this.taskQueue).dir,
        controllerOutbox(this.cfg, this.taskQueue).dir,
      ];
      for (const dir of dirs) await rm(dir, { recursive: true, force: true });
    }
  }
}

/** SIGKILL by a pid record (never by name) and wait until the process is gone. */
export async function killByPid(rec: PidRecord | undefined): Promise<void> {
  if (!rec || !isSameProcessAlive(rec)) return;
  try {
    process.kill(rec.pid, 'SIGKILL');
  } catch {
    return;
  }
  while (isSameProcessAlive(rec)) await sleep(50);
}

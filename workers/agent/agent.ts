// One host agent: its identity, its guests, its data-plane listener, its Temporal worker on
// `host.<name>`, its Redis registration and its event outbox. Stopping an agent leaves its guests
// running (as stopping libvirtd leaves QEMU running); a new agent reconnects to them.
import { join } from 'node:path';
import { NativeConnection, Worker } from '@temporalio/worker';
import type { Redis } from 'ioredis';
import { Client } from '@temporalio/client';
import { createHostActivities } from '../../activities/host.ts';
import { createDestinationActivities } from '../../activities/migration/destination.ts';
import type { PhaseDeps } from '../../activities/migration/deps.ts';
import { createSourceActivities } from '../../activities/migration/source.ts';
import { AutokillLeases } from '../../infra/redis/autokill.ts';
import { CookieNonces } from '../../infra/redis/cookie-nonces.ts';
import { DiskLeases, DiskLeaseError } from '../../infra/redis/disk-leases.ts';
import { DrainMarks } from '../../infra/redis/draining.ts';
import { FinishedMigrations } from '../../infra/redis/finished-migrations.ts';
import { JobStore } from '../../infra/redis/jobs.ts';
import { Placements } from '../../infra/redis/placement.ts';
import { reportTransfer } from '../../workflows/migration/messages.ts';
import { cookieKeySource } from '../../protocol/cookie/index.ts';
import { AutokillReaper } from '../../hosts/agent/autokill-reaper.ts';
import { OrphanSweeper } from '../../hosts/agent/orphan-sweeper.ts';
import { recordedLeases } from '../../hosts/agent/recorded-leases.ts';
import { recoverMigrations } from '../../activities/migration/recovery.ts';
import type { Config } from '../../infra/config.ts';
import { createKafka } from '../../infra/kafka/bus.ts';
import { routeTemporalLogs } from '../../infra/logging/libraries.ts';
import type { Logger } from '../../infra/logging/logger.ts';
import { createRedis } from '../../infra/redis/client.ts';
import { KeyringCache, sharedRedis } from '../../infra/redis/keyring.ts';
import { dataConverter } from '../../infra/temporal/data-converter.ts';
import { workflowBundle } from '../../infra/temporal/workflow-bundle.ts';
import { connectWorker } from '../../infra/temporal/connect-worker.ts';
import { connectTemporal } from '../../infra/temporal/connect.ts';
import { TunnelListener } from '../../hosts/tunnel/index.ts';
import { GuestRunner } from '../../hosts/agent/guest-runner.ts';
import { GuestStandby } from '../../hosts/agent/guest-standby.ts';
import { GuestManager } from '../../hosts/agent/guests.ts';
import { DEFAULT_MAX_GUESTS } from '../../hosts/agent/capacity.ts';
import { hostStateDir, loadOrCreateIdentity, type HostIdentity } from '../../hosts/agent/identity.ts';
import type { AgentOperation } from '../../protocol/host-operations.ts';
import { hostTaskQueue } from '../../protocol/task-queues.ts';
import { Outbox } from '../../hosts/outbox/outbox.ts';
import { RedisEpoch, reassertAfterLoss } from '../../hosts/agent/redis-epoch.ts';
import { HEARTBEAT_MS, HostRegistry } from '../../hosts/agent/registration.ts';
import { Shipper } from '../../hosts/outbox/shipper.ts';
import { outboxSigner } from '../../hosts/outbox/signer.ts';
import { tunnelTls } from '../../hosts/agent/tunnel-identity.ts';
import { logTunnelRefusals } from '../../hosts/agent/tunnel-refusals.ts';

/** true only when A and B are the same union of names. */
type Exactly<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;

export interface HostAgentOptions {
  name: string;
  /** The address this host's data plane listens on and its streams leave from (any IPv4). */
  address: string;
  /** The data-plane address other hosts are told, when they reach this host under another. */
  advertise?: string;
  /** Memory this host offers to guests. */
  memoryMiB: number;
  /** The data plane's listen port (0: any free port). */
  dataPort?: number;
  /** The data-plane port other hosts are told, when a proxy stands in front of the listener. */
  advertisePort?: number;
  /** Emulated guests run in one guest runner process (hosts/guest-sim/runner.ts), not one each. */
  guestRunner?: boolean;
}

export class HostAgent {
  private heartbeat: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private epoch: RedisEpoch | undefined;
  private leases: ReturnType<typeof recordedLeases> | undefined;
  private reasserting = false;

  private constructor(
    readonly identity: HostIdentity,
    readonly options: HostAgentOptions,
    readonly guests: GuestManager,
    private readonly outbox: Outbox,
    private readonly shipper: Shipper,
    private readonly redis: Redis,
    private readonly registry: HostRegistry,
    private readonly tunnels: TunnelListener,
    private readonly connection: NativeConnection,
    private readonly client: Client,
    private readonly reaper: AutokillReaper,
    private readonly orphans: OrphanSweeper,
    private readonly worker: Worker,
    private readonly log: Logger,
  ) {}

  static async start(cfg: Config, options: HostAgentOptions, log: Logger): Promise<HostAgent> {
    routeTemporalLogs(log);
    const dir = hostStateDir(cfg.stateDir, options.name);
    const identity = loadOrCreateIdentity(dir, options.name);
    const redis = createRedis(cfg, `agent-${options.name}`, { patient: true });
    // Security on: the data plane is mutual TLS as this host; a missing bundle fails here, first.
    const tls = tunnelTls(cfg, options.name);
    const registry = new HostRegistry(redis);
    // The cookie and codec keys (keyring on), read through the agent's own Redis client.
    const keyrings = new KeyringCache(sharedRedis(redis), { create: true });
    const converter = dataConverter(cfg, keyrings);
    // Before anything of the host's is touched (outbox, guests, leases): a name another live
    // agent holds is refused here, with one line.
    await registry.claim(options.name, identity.uuid).catch((err: unknown) => {
      redis.disconnect();
      throw err;
    });
    const outbox = new Outbox(dir, options.name, {
      signer: await outboxSigner(cfg, log),
      log: log.child('outbox'),
    });
    const shipper = new Shipper(createKafka(cfg, `agent-${options.name}`, log), outbox, log.child('events'));
    shipper.start();
    const guests = new GuestManager(
      dir,
      options.name,
      outbox,
      log.child('guests'),
      join(cfg.cacheDir, 'guest-images'),
    );
    const jobs = new JobStore(redis);
    const diskLeases = new DiskLeases(redis);
    const leases = recordedLeases(diskLeases, outbox);
    const autokill = new AutokillLeases(redis);
    // A guest that is gone (killed, crashed, quit) gives up the disk leases it still holds.
    guests.onGone = (vm, def) => void releaseIfHeld(diskLeases, leases, options.name, vm, def.disks, log);
    // The host's guest runner: started if asked for, else only reconnected to if one still runs
    // (its guests are this host's guests, whatever the agent is started with now).
    guests.runner = await GuestRunner.open(
      join(dir, 'guest-runner'),
      log.child('runner'),
      !!options.guestRunner,
    );
    guests.startInRunner = !!options.guestRunner;
    // The agent itself refuses a guest that does not fit (Prepare and `guest start` alike).
    guests.capacity = { memoryMiB: options.memoryMiB, maxGuests: DEFAULT_MAX_GUESTS };
    const recovered = await guests.recover();
    if (!options.guestRunner) {
      // After recovery, so a standby is never taken for a guest: the next emulated guest adopts it.
      guests.standby = new GuestStandby(join(dir, 'standby'), log.child('standby'));
      guests.standby.refill();
    }
    const tunnels = await TunnelListener.listen({
      host: options.address,
      port: options.dataPort ?? 0,
      ...(tls === undefined ? {} : { tls }),
      maxConnectionsPerPeer: cfg.tunnel.maxConnectionsPerHost,
      onEvent: logTunnelRefusals(log.child('tunnel')),
    });
    const advertisedPort = options.advertisePort ?? tunnels.address.port;
    const reaper = new AutokillReaper({
      host: options.name,
      guests,
      autokill,
      jobs,
      log: log.child('autokill'),
    });
    const placements = new Placements(redis);
    const recoveryDeps = {
      host: options.name,
      placements,
      guests,
      jobs,
      leases,
      diskLeases,
      autokill,
      reaper,
      outbox,
      log: log.child('recovery'),
    };
    const migrations = await recoverMigrations(recoveryDeps);
    await reaper.start();
    const connection = await connectWorker(cfg);
    const client = new Client({
      connection: await connectTemporal(cfg),
      namespace: cfg.temporal.namespace,
      ...(converter ? { dataConverter: converter } : {}),
    });
    const orphans = new OrphanSweeper({
      host: options.name,
      jobs,
      client,
      log: log.child('orphans'),
      settle: async (vm) => void (await recoverMigrations(recoveryDeps, { controllerGone: true, vm })),
    });
    orphans.start();
    const phaseDeps: PhaseDeps = {
      host: options.name,
      identity,
      guests,
      memoryMiB: options.memoryMiB,
      tunnels,
      advertisedPort,
      ...(options.advertise === undefined ? {} : { advertisedHost: options.advertise }),
      localAddress: options.address,
      outbox,
      placements,
      drainMarks: new DrainMarks(redis),
      finished: new FinishedMigrations(redis),
      ...(tls === undefined ? {} : { tunnelTls: tls }),
      jobs,
      leases,
      autokill,
      nonces: new CookieNonces(redis),
      cookieKeys: cookieKeySource(cfg, keyrings),
      guard: reaper,
      reportTransfer: async (migrationId, progress) => {
        await client.workflow.getHandle(migrationId).signal(reportTransfer, progress);
      },
    };
    const activities = {
      ...createHostActivities({ host: options.name, guests, jobs, leases }),
      ...createSourceActivities(phaseDeps),
      ...createDestinationActivities(phaseDeps),
    };
    // The hostOperation workflow refuses a name outside protocol/host-operations.ts: it must list
    // exactly what is registered here.
    const _sameOperations: Exactly<keyof typeof activities, AgentOperation> = true;
    const worker = await Worker.create({
      connection,
      namespace: cfg.temporal.namespace,
      taskQueue: hostTaskQueue(options.name),
      workflowBundle: await workflowBundle(),
      activities,
      ...(converter ? { dataConverter: converter } : {}),
      // The SDK sends an activity's heartbeats to the server at most every 0.8 × its heartbeat
      // timeout (8 s of the phases' 10 s), which leaves 2 s of slack: an agent starved of CPU for
      // that long (24 migrations among 20 agents on 2 cores) timed its own phases out. Every 2 s
      // leaves 8 s.
      maxHeartbeatThrottleInterval: '2 seconds',
    });
    const agent = new HostAgent(
      identity,
      options,
      guests,
      outbox,
      shipper,
      redis,
      registry,
      tunnels,
      connection,
      client,
      reaper,
      orphans,
      worker,
      log,
    );
    outbox.record({
      type: 'host.started',
      vm: null,
      data: { uuid: identity.uuid, address: `${options.advertise ?? options.address}:${advertisedPort}` },
    });
    agent.epoch = new RedisEpoch(redis, dir);
    agent.leases = leases;
    await agent.beat();
    guests.onChanged = () => agent.beat();
    agent.heartbeat = setInterval(() => void agent.beat(), HEARTBEAT_MS);
    agent.running = worker.run();
    log.info('host agent up', {
      host: options.name,
      uuid: identity.uuid,
      taskQueue: hostTaskQueue(options.name),
      dataPlane: `${options.address}:${tunnels.address.port}`,
      advertisedPort,
      guests: recovered.reconnected.length,
      lost: recovered.lost.length,
      migrationsRecovered: migrations.length,
    });
    return agent;
  }

  /**
   * One heartbeat at a time, in order: a beat after a guest change must not be overwritten by an
   * older one still reading its guests' run states.
   */
  private beat(): Promise<void> {
    this.beating = this.beating.then(() => this.beatOnce());
    return this.beating;
  }

  private beating: Promise<void> = Promise.resolve();

  private async beatOnce(): Promise<void> {
    try {
      const guests = await this.guests.describe();
      // A name taken by another identity while this agent was cut off is not written over.
      await this.registry.claim(this.options.name, this.identity.uuid);
      await this.registry.heartbeat(
        {
          name: this.options.name,
          uuid: this.identity.uuid,
          address: this.options.advertise ?? this.options.address,
          dataPort: this.options.advertisePort ?? this.tunnels.address.port,
          memoryMiB: this.options.memoryMiB,
          usedMiB: this.guests.usedMemoryMiB(),
          guests: guests.length,
          pid: process.pid,
          heartbeatAt: new Date().toISOString(),
          outboxQuarantined: this.outbox.quarantined,
        },
        { guests },
      );
      await this.checkEpoch();
    } catch (err) {
      this.log.warn('heartbeat to Redis failed; the host will look down until it succeeds', {
        error: (err as Error).message,
      });
    }
  }

  /** Redis lost its data since the last beat: re-assert what the guests running here hold. */
  private async checkEpoch(): Promise<void> {
    if (!this.epoch || !this.leases || this.reasserting) return;
    this.reasserting = true;
    try {
      const check = await this.epoch.check();
      if (!check.lost) return;
      this.log.error('Redis lost its data (its epoch changed)', { host: this.options.name, ...check });
      await reassertAfterLoss({
        host: this.options.name,
        redis: this.redis,
        guests: this.guests,
        leases: this.leases,
        incoming: () => this.reaper.watching(),
        log: this.log.child('redis-lost'),
      });
      this.epoch.accept(check.now);
    } finally {
      this.reasserting = false;
    }
  }

  /** Leaves the guests running, ships what it can of the outbox, deregisters. */
  async stop(): Promise<void> {
    clearInterval(this.heartbeat);
    this.outbox.record({ type: 'host.stopped', vm: null, data: {} });
    this.worker.shutdown();
    await this.running;
    await this.reaper.stop();
    this.orphans.stop();
    await this.connection.close();
    await this.client.connection.close();
    await this.tunnels.close();
    this.guests.detachAll();
    this.guests.standby?.stop();
    this.guests.runner?.close();
    await this.registry.deregister(this.options.name).catch(() => undefined);
    await this.registry.unclaim(this.options.name, this.identity.uuid).catch(() => undefined);
    this.redis.disconnect();
    await this.shipper.drain(5000);
    await this.shipper.stop();
    this.outbox.close();
    this.log.info('host agent stopped; its guests keep running', { host: this.options.name });
  }
}

async function releaseIfHeld(
  diskLeases: DiskLeases,
  leases: ReturnType<typeof recordedLeases>,
  host: string,
  vm: string,
  disks: string[],
  log: Logger,
): Promise<void> {
  try {
    const holders = await Promise.all(disks.map((d) => diskLeases.holderOf(d)));
    const mine = disks.filter((_, i) => holders[i]?.host === host && holders[i]?.vm === vm);
    if (mine.length > 0) await leases.release({ host, vm }, mine);
  } catch (err) {
    if (err instanceof DiskLeaseError) return;
    log.warn('could not release the disk leases of a guest that is gone', {
      vm,
      error: (err as Error).message,
    });
  }
}

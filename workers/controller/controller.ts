// The controller: the Temporal worker that runs migration workflows (and later drains) on the
// control task queue, with the activities that belong to no host (the autokill keepalive). It
// keeps no state of its own, so it can be killed and restarted at any moment: Temporal resumes
// its workflows, and the destinations' autokill leases outlive a short absence.
import { mkdirSync } from 'node:fs';
import { NativeConnection, Worker } from '@temporalio/worker';
import type { Redis } from 'ioredis';
import { createClusterActivities } from '../../activities/cluster.ts';
import { createControlActivities } from '../../activities/control.ts';
import { HostRegistry } from '../../hosts/agent/registration.ts';
import { Outbox } from '../../hosts/outbox/outbox.ts';
import { Shipper } from '../../hosts/outbox/shipper.ts';
import { outboxSigner } from '../../hosts/outbox/signer.ts';
import { createKafka } from '../../infra/kafka/bus.ts';
import type { Config } from '../../infra/config.ts';
import { routeTemporalLogs } from '../../infra/logging/libraries.ts';
import type { Logger } from '../../infra/logging/logger.ts';
import { AutokillLeases } from '../../infra/redis/autokill.ts';
import { createRedis } from '../../infra/redis/client.ts';
import { DrainMarks } from '../../infra/redis/draining.ts';
import { MigrationSlots } from '../../infra/redis/migration-slots.ts';
import { workflowBundle } from '../../infra/temporal/workflow-bundle.ts';
import { connectWorker } from '../../infra/temporal/connect-worker.ts';
import { dataConverter } from '../../infra/temporal/data-converter.ts';
import { KeyringCache, sharedRedis } from '../../infra/redis/keyring.ts';
import { controllerOutbox } from './files.ts';
import { currentRole } from '../../infra/pki/index.ts';
import { CONTROL_TASK_QUEUE, slotsPrefix } from './queue.ts';

export class Controller {
  private constructor(
    private readonly worker: Worker,
    private readonly running: Promise<void>,
    private readonly connection: NativeConnection,
    private readonly redis: Redis,
    private readonly outbox: Outbox,
    private readonly shipper: Shipper,
  ) {}

  static async start(cfg: Config, log: Logger, taskQueue = CONTROL_TASK_QUEUE): Promise<Controller> {
    routeTemporalLogs(log);
    const redis = createRedis(cfg, 'controller', { patient: true });
    // Its events (migration.ended) go through a durable outbox like an agent's, under its own name.
    // A controller process says who it is (main.ts); one hosted by another process (a test's, a
    // drill's) is the default controller.
    const who = currentRole();
    const { name, dir } = controllerOutbox(cfg, taskQueue, who.role === 'controller' ? who.name : undefined);
    mkdirSync(dir, { recursive: true });
    const outbox = new Outbox(dir, name, { signer: await outboxSigner(cfg, log), log: log.child('outbox') });
    const shipper = new Shipper(createKafka(cfg, name, log), outbox, log.child('events'));
    shipper.start();
    const connection = await connectWorker(cfg);
    const converter = dataConverter(cfg, new KeyringCache(sharedRedis(redis), { create: true }));
    const worker = await Worker.create({
      connection,
      namespace: cfg.temporal.namespace,
      taskQueue,
      workflowBundle: await workflowBundle(),
      ...(converter ? { dataConverter: converter } : {}),
      activities: {
        ...createControlActivities({ autokill: new AutokillLeases(redis), outbox }),
        ...createClusterActivities({
          registry: new HostRegistry(redis),
          drainMarks: new DrainMarks(redis),
          slots: new MigrationSlots(redis, slotsPrefix(taskQueue)),
          log: log.child('cluster'),
        }),
      },
    });
    const running = worker.run();
    log.info('controller up', { taskQueue });
    return new Controller(worker, running, connection, redis, outbox, shipper);
  }

  async stop(): Promise<void> {
    this.worker.shutdown();
    await this.running;
    await this.connection.close();
    this.redis.disconnect();
    await this.shipper.drain(5000);
    await this.shipper.stop();
    this.outbox.close();
  }
}

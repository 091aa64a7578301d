import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Kafka, logLevel } from 'kafkajs';
import type { Config } from '../config.ts';
import { adminIdentity } from '../pki/index.ts';
import { runStep } from '../provision/run.ts';
import type { Probe, ServiceSpec } from '../stack/service.ts';
import { kafkaClientSecurity } from './client-security.ts';
import { kafkaServerProperties, KAFKA_LOG4J_PROPERTIES } from './server-properties.ts';
import { provisionKafka } from './provision.ts';
import {
  addScramUsers,
  brokerSecurity,
  checkScramFormatted,
  scramFormatArgs,
  SCRAM_MARKER,
} from './scram.ts';
import { provisionKafkaCluster } from './cluster-setup.ts';
import { KafkaSecurityError } from './errors.ts';
import { readLivePidFile } from '../process/pid-file.ts';

/** Apache Kafka as one KRaft node (broker and controller in one JVM), started with plain `java`. */
export function kafkaService(cfg: Config): ServiceSpec {
  const dir = join(cfg.stateDir, 'kafka');
  return {
    name: 'kafka',
    host: cfg.bindHost,
    port: cfg.kafka.port,
    otherPorts: [cfg.kafka.controllerPort],
    logPath: join(cfg.stateDir, 'logs', 'kafka.log'),
    pidPath: join(cfg.stateDir, 'run', 'kafka.pid'),
    readyTimeoutMs: 90_000,
    version: cfg.kafka.version,
    async provision(log) {
      await provisionKafka(cfg.cacheDir, cfg.kafka.version, log);
    },
    async daemon(log) {
      const { java, libs } = await provisionKafka(cfg.cacheDir, cfg.kafka.version, log);
      mkdirSync(dir, { recursive: true });
      const properties = join(dir, 'server.properties');
      const log4j = join(dir, 'log4j.properties');
      const formatted = existsSync(join(dir, 'data', 'meta.properties'));
      if (cfg.security.enabled && formatted) checkScramFormatted(dir);
      const security = cfg.security.enabled ? brokerSecurity(cfg) : undefined;
      // With security it holds the broker's key and admin's password: its owner's alone.
      writeFileSync(properties, kafkaServerProperties(cfg, join(dir, 'data'), security), { mode: 0o600 });
      chmodSync(properties, 0o600);
      writeFileSync(log4j, KAFKA_LOG4J_PROPERTIES);
      writeFileSync(join(dir, RUNNING_MODE), cfg.security.enabled ? 'on' : 'off');
      const classpath = join(libs, '*');
      const jvm = [`-Xmx${cfg.kafka.heapMiB}m`, `-Xms${Math.min(256, cfg.kafka.heapMiB)}m`, '-XX:+UseG1GC'];
      const logging = [`-Dlog4j.configuration=file:${log4j}`, `-Dkafka.logs.dir=${join(dir, 'logs')}`];
      if (!formatted) {
        // An unformatted KRaft log dir refuses to start; the cluster id is kept with the state.
        const idFile = join(dir, 'cluster-id');
        // An id from before the redraw below may start with '-': unformatted, it can still change.
        if (!existsSync(idFile) || readFileSync(idFile, 'utf8').startsWith('-')) {
          writeFileSync(idFile, newKafkaClusterId());
        }
        const clusterId = readFileSync(idFile, 'utf8').trim();
        log(`formatting Kafka's KRaft storage (cluster ${clusterId})...`);
        await runStep(
          'formatting Kafka storage',
          java,
          [
            ...logging,
            '-cp',
            classpath,
            'kafka.tools.StorageTool',
            'format',
            '-t',
            clusterId,
            '-c',
            properties,
            '--ignore-formatted',
            // SCRAM users exist from the first start (KIP-900): clients authenticate at once.
            ...scramFormatArgs(cfg),
          ],
          `see ${properties}; \`ferry stack reset\` starts from empty state`,
        );
        // Formatted with the users: a later start with security on may rely on them.
        writeFileSync(join(dir, SCRAM_MARKER), `${new Date().toISOString()}\n`);
      }
      return {
        command: java,
        args: [...jvm, ...logging, '-cp', classpath, 'kafka.Kafka', properties],
        logPath: this.logPath,
        pidPath: this.pidPath,
      };
    },
    probe: () => probeKafka(cfg),
    async ready(log) {
      if (!cfg.security.enabled && !existsSync(join(dir, SCRAM_MARKER))) {
        const { java, libs } = await provisionKafka(cfg.cacheDir, cfg.kafka.version, log);
        // Only preparation for FERRY_SECURITY=on: with it off, a failure is said and tried again
        // at the next `stack up`, and the stack serves as before.
        await addScramUsers(cfg, dir, { java, libs, log4j: join(dir, 'log4j.properties') }, log).catch(
          (err: Error) => log(`kafka: SCRAM users not added (${err.message}); FERRY_SECURITY=on needs them`),
        );
      }
      await provisionKafkaCluster(cfg, log);
    },
  };
}

export async function probeKafka(cfg: Config): Promise<Probe> {
  let admin;
  try {
    admin = new Kafka({
      clientId: 'ferry-probe',
      brokers: cfg.kafka.brokers,
      logLevel: logLevel.NOTHING,
      connectionTimeout: 1500,
      requestTimeout: 3000,
      retry: { retries: 0 },
      ...kafkaClientSecurity(cfg, cfg.security.enabled ? adminIdentity(cfg) : undefined),
    }).admin();
    await admin.connect();
    const cluster = await admin.describeCluster();
    return {
      answers: true,
      detail: `metadata: cluster ${cluster.clusterId}, ${cluster.brokers.length} broker(s), controller ${cluster.controller}`,
    };
  } catch (err) {
    refuseOtherMode(cfg);
    return { answers: false, detail: `metadata request failed: ${(err as Error).message}` };
  } finally {
    await admin?.disconnect().catch(() => undefined);
  }
}

/** Which FERRY_SECURITY the Kafka ferry started last was started with. */
const RUNNING_MODE = 'security-mode';

/**
 * A Kafka ferry started in the other security mode can never answer this probe (plaintext against
 * TLS, or the reverse): say so at once, instead of waiting out the start-up timeout.
 */
function refuseOtherMode(cfg: Config): void {
  const owned = readLivePidFile(join(cfg.stateDir, 'run', 'kafka.pid'));
  const file = join(cfg.stateDir, 'kafka', RUNNING_MODE);
  if (!owned || !existsSync(file)) return;
  const running = readFileSync(file, 'utf8').trim();
  const wanted = cfg.security.enabled ? 'on' : 'off';
  if (running === wanted) return;
  throw new KafkaSecurityError(
    `Kafka (pid ${owned.pid}) was started with FERRY_SECURITY=${running}, and this runs with ${wanted}`,
    { hint: '`ferry stack down` then `ferry stack up` restarts it in this mode' },
  );
}

/**
 * A KRaft cluster id: 16 random bytes in base64url, redrawn while it starts with '-', as Kafka's own
 * Uuid.randomUuid does, because its tools would take such an id for an option (`format -t -A2f…`
 * fails with "expected one argument"; one start in 64 did).
 */
export function newKafkaClusterId(random: (n: number) => Buffer = randomBytes): string {
  for (;;) {
    const id = random(16).toString('base64url');
    if (!id.startsWith('-')) return id;
  }
}

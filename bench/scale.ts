// `npm run bench -- scale [--json] [guests=500] [hosts=20] [concurrent=24] [memory=64] [dirty-rate=2]
// [host-memory=4096] [max-migrations=N] [per-source=M] [per-destination=K]`: many emulated guests
// on one machine. `hosts` agents, each started with --guest-runner (its guests in one runner
// process), and `guests` guests spread evenly over them; then:
// - memory: the runners' RSS summed over the guests (rssMiBPerGuest), the agents' beside it;
// - a drain of the first host (guests / hosts of them) to the others, against the bound bench/drain.ts
//   uses: total bytes over raw loopback TCP measured in the same run, plus one switchover (the
//   drain's median downtime) per wave of the concurrency limits;
// - `concurrent` migrations at once between the other hosts; per migration, the overhead is its
//   wall time minus its transfer time (report.totalTimeMs), as bench/overhead.ts defines it.
// rolledBack counts the migrations of both that did not complete (a drain's retried attempts too),
// and `failures` says why; the concurrent migrations' phases are given as p50/p99. Everything it
// starts (guests, agents, runners, controller) it stops, by pid file, also when it fails.
import { readFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { z } from 'zod';
import { startGuestOn } from '../cli/guest-start.ts';
import { runHostOperation } from '../cli/host-operation.ts';
import { runnerPaths } from '../hosts/agent/guest-runner.ts';
import { hostStateDir } from '../hosts/agent/identity.ts';
import { loadConfig, type Config } from '../infra/config.ts';
import { stopDaemon } from '../infra/process/daemon.ts';
import { readLivePidFile } from '../infra/process/pid-file.ts';
import { createRedis } from '../infra/redis/client.ts';
import { DrainMarks } from '../infra/redis/draining.ts';
import { releasePlacement } from '../infra/redis/placement.ts';
import { stackUp } from '../infra/stack/stack.ts';
import { ferry } from '../lab/cli.ts';
import { startTestController, type TestController } from '../lab/migrate.ts';
import { uniqueName } from '../lab/stack.ts';
import { DEFAULT_LIMITS, resolveLimits } from '../protocol/cluster.ts';
import type { MigrationReport } from '../protocol/migration.ts';
import { PHASES, type PhaseName } from '../protocol/phases.ts';
import type { drain } from '../workflows/drain.ts';
import type { migrate } from '../workflows/migrate.ts';
import { parseBenchOptions } from './options.ts';
import type { BenchContext, Figures } from './run.ts';
import { measureLoopbackBps } from './tunnel-throughput.ts';

const MiB = 1024 * 1024;
/** Agents started at once (each start compiles nothing, but connects to three services). */
const AGENT_PARALLELISM = 4;
/** Guest starts (host operations) in flight at once. */
const GUEST_PARALLELISM = 8;
/** The window over which CPU at rest is sampled, once every guest runs. */
const IDLE_SAMPLE_MS = 10_000;
/** Linux's USER_HZ: /proc's CPU times are in these. */
const TICKS_PER_SECOND = 100;

export default async function scaleBench(ctx: BenchContext): Promise<Figures> {
  const o = parseBenchOptions('scale', OptionsSchema, ctx.args);
  const limits = resolveLimits({
    cluster: o['max-migrations'],
    perSource: o['per-source'],
    perDestination: o['per-destination'],
  });
  if (o.hosts < 3)
    throw new Error('scale: hosts must be at least 3 (one drained, two for the concurrent migrations)');
  const cfg = loadConfig();
  await stackUp(cfg, () => undefined);
  const redis = createRedis(cfg, 'bench-scale');
  const hosts = Array.from({ length: o.hosts }, () => uniqueName('scale'));
  /** Where each started guest is now (kept up to date by the migrations). */
  const where = new Map<string, string>();
  let ctl: TestController | undefined;
  const load = () => loadAverage();
  ctx.log(`load average at start: ${load()}`);
  try {
    ctx.log(`starting ${o.hosts} agents with --guest-runner...`);
    const agentsStarted = performance.now();
    await inBatches(hosts, AGENT_PARALLELISM, (host) =>
      startAgent(host, hosts.indexOf(host), o['host-memory']),
    );
    const agentStartSeconds = (performance.now() - agentsStarted) / 1000;
    ctl = await startTestController(cfg);

    ctx.log(`starting ${o.guests} guests of ${o.memory} MiB (dirtying ${o['dirty-rate']} pages/s)...`);
    const guestsStarted = performance.now();
    const specs = Array.from({ length: o.guests }, (_, i) => ({
      vm: `${uniqueName('sg')}-${i}`,
      host: hosts[i % o.hosts]!,
    }));
    await inBatches(specs, GUEST_PARALLELISM, async (s) => {
      await startGuestOn(cfg, redis, {
        vm: s.vm,
        host: s.host,
        kind: 'emulated',
        memoryMiB: o.memory,
        dirtyPagesPerSecond: o['dirty-rate'],
      });
      where.set(s.vm, s.host);
    });
    const guestStartSeconds = (performance.now() - guestsStarted) / 1000;
    ctx.log(`  ${o.guests} guests in ${guestStartSeconds.toFixed(1)} s; load ${load()}`);

    ctx.log(`CPU at rest, ${IDLE_SAMPLE_MS / 1000} s...`);
    const idle = await sampleCpu(cfg, hosts, IDLE_SAMPLE_MS);
    ctx.log(
      `  runners ${idle.runnersPct}% of a core, agents ${idle.agentsPct}%, the machine ${idle.machineBusyPct}% of its ${idle.cores} cores busy`,
    );
    const rss = measureRss(cfg, hosts);
    const rssMiBPerGuest = rss.runnersMiB / o.guests;
    ctx.log(
      `  runners ${rss.runnersMiB.toFixed(0)} MiB (${rssMiBPerGuest.toFixed(2)} MiB per guest), ` +
        `agents ${rss.agentsMiB.toFixed(0)} MiB (${(rss.agentsMiB / o.hosts).toFixed(0)} MiB each)`,
    );

    // The drain of the first host to all the others.
    const [drained, ...others] = hosts as [string, ...string[]];
    const drainedGuests = [...where].filter(([, h]) => h === drained).length;
    const concurrency = Math.min(limits.cluster, limits.perSource, limits.perDestination * others.length);
    ctx.log(`draining ${drained} (${drainedGuests} guests, ${concurrency} at once); load ${load()}`);
    const drainStarted = performance.now();
    const handle = await ctl.client.workflow.start<typeof drain>('drain', {
      taskQueue: ctl.taskQueue,
      workflowId: uniqueName('drain'),
      args: [{ host: drained, destinations: others, limits }],
    });
    const drainReport = await handle.result();
    const drainSeconds = (performance.now() - drainStarted) / 1000;
    const drainReports = await Promise.all(
      drainReport.guests.map((g) =>
        ctl!.client.workflow.getHandle<typeof migrate>(g.attempts.at(-1)!.migrationId).result(),
      ),
    );
    for (const r of drainReports) if (r.outcome === 'completed' && r.runsOn) where.set(r.vm, r.runsOn);
    // A drain retries a guest whose migration rolled back: every attempt that did not complete counts.
    const drainAttemptsFailed = drainReport.guests.flatMap((g) =>
      g.attempts
        .filter((a) => a.outcome !== 'completed')
        .map((a) => `${g.vm} → ${a.to}: ${a.outcome}: ${a.error?.message ?? ''}`),
    );
    const drainFailed = drainReport.guests.filter((g) => g.outcome !== 'completed').length;
    await new DrainMarks(redis).clear(drained);

    ctx.log('raw loopback TCP, 512 MiB...');
    const loopbackBps = await measureLoopbackBps(512 * MiB);
    const totalBytes = drainReports.reduce((sum, r) => sum + (r.bytes ?? 0), 0);
    const waves = Math.ceil(drainedGuests / concurrency);
    const downtimes = drainReports.map((r) => r.downtimeMs ?? 0).sort((a, b) => a - b);
    const switchoverMs = downtimes[Math.floor(downtimes.length / 2)] ?? 0;
    const lowerBoundSeconds = totalBytes / loopbackBps + (waves * switchoverMs) / 1000;
    ctx.log(
      `  ${drainSeconds.toFixed(1)} s, bound ${lowerBoundSeconds.toFixed(2)} s ` +
        `(${(totalBytes / MiB).toFixed(1)} MiB at ${(loopbackBps / MiB).toFixed(0)} MiB/s, ${waves} waves × ${switchoverMs} ms); ` +
        `${drainFailed} not moved; load ${load()}`,
    );

    // `concurrent` migrations at once, each guest of the other hosts to the next of them.
    const movers = pickMovers(where, others, o.concurrent);
    ctx.log(`${movers.length} migrations at once; load ${load()}`);
    const runs = await Promise.allSettled(
      movers.map(async ({ vm, from, to }) => {
        const started = performance.now();
        const report = await ctl!.run({ vm, source: from, destination: to });
        const wallMs = performance.now() - started;
        if (report.outcome === 'completed' && report.runsOn) where.set(vm, report.runsOn);
        return { report, wallMs };
      }),
    );
    const completed = runs.flatMap((r) =>
      r.status === 'fulfilled' &&
      r.value.report.outcome === 'completed' &&
      r.value.report.totalTimeMs !== null
        ? [r.value]
        : [],
    );
    for (const r of runs) {
      if (r.status === 'rejected') ctx.log(`  failed: ${String(r.reason)}`);
      else if (r.value.report.outcome !== 'completed') ctx.log(`  ${describeFailure(r.value.report)}`);
    }
    const overheads = completed.map((r) => r.wallMs - r.report.totalTimeMs!);
    const [overheadP50, overheadP99] = percentiles(overheads);
    const [wallP50, wallP99] = percentiles(completed.map((r) => r.wallMs));
    const concurrentFailed = movers.length - completed.length;
    const failures = runs.flatMap((r) =>
      r.status === 'rejected'
        ? [String(r.reason)]
        : r.value.report.outcome === 'completed'
          ? []
          : [describeFailure(r.value.report)],
    );
    // Where the time of the concurrent migrations went: each phase's p50 / p99 (workflow time).
    const phases = Object.fromEntries(
      PHASES.map((name) => [name, percentiles(completed.map((r) => phaseMs(r.report, name)))]),
    );
    ctx.log(
      `  ${completed.length}/${movers.length} completed; overhead p50 ${overheadP50} ms, p99 ${overheadP99} ms; load ${load()}`,
    );

    return {
      guests: where.size,
      hosts: o.hosts,
      guestMemoryMiB: o.memory,
      dirtyPagesPerSecond: o['dirty-rate'],
      rssMiBPerGuest: round(rssMiBPerGuest, 2),
      runnersRssMiB: round(rss.runnersMiB),
      agentsRssMiB: round(rss.agentsMiB),
      agentRssMiBEach: round(rss.agentsMiB / o.hosts),
      runnerProcesses: rss.runners,
      idleCpu: idle,
      agentStartSeconds: round(agentStartSeconds),
      guestStartSeconds: round(guestStartSeconds),
      drainGuests: drainedGuests,
      drainSeconds: round(drainSeconds),
      drainLowerBoundSeconds: round(lowerBoundSeconds, 2),
      drainRatio: round(drainSeconds / lowerBoundSeconds, 2),
      drainMiB: round(totalBytes / MiB),
      loopbackMiBps: round(loopbackBps / MiB),
      drainWaves: waves,
      switchoverMs,
      drainConcurrency: concurrency,
      limits,
      rolledBack: drainAttemptsFailed.length + concurrentFailed,
      drainNotMoved: drainFailed,
      concurrentMigrations: movers.length,
      concurrentMigrationsP50OverheadMs: overheadP50,
      concurrentMigrationsP99OverheadMs: overheadP99,
      concurrentWallP50Ms: wallP50,
      concurrentWallP99Ms: wallP99,
      concurrentPhasesP50P99Ms: phases,
      failures: [...drainAttemptsFailed, ...failures],
      loadAverageAtEnd: load(),
    };
  } finally {
    ctx.log(`stopping (load ${load()})...`);
    await ctl
      ?.stop()
      .catch((err: unknown) => process.stderr.write(`scale: controller stop: ${String(err)}\n`));
    await cleanUp(cfg, redis, hosts, where);
    redis.disconnect();
  }
}

async function startAgent(host: string, index: number, memoryMiB: number): Promise<void> {
  // 127.0.1.x: no test or other bench uses that range.
  const address = `127.0.1.${index + 1}`;
  const r = await ferry(
    'host',
    'start',
    host,
    '--address',
    address,
    '--memory',
    String(memoryMiB),
    '--guest-runner',
    '--detach',
  );
  if (r.status !== 0) throw new Error(`ferry host start ${host}: ${r.stderr.trim()}`);
}

/** Each of `count` guests of `hosts` (round robin over them) to the next host of the list. */
function pickMovers(where: Map<string, string>, hosts: string[], count: number) {
  const byHost = new Map(hosts.map((h) => [h, [...where].filter(([, at]) => at === h).map(([vm]) => vm)]));
  const movers: { vm: string; from: string; to: string }[] = [];
  for (let i = 0; movers.length < count && i < count * hosts.length; i++) {
    const from = hosts[i % hosts.length]!;
    const vm = byHost.get(from)?.shift();
    if (vm) movers.push({ vm, from, to: hosts[(i + 1) % hosts.length]! });
  }
  return movers;
}

/** The runners' and agents' CPU time over `ms` (percent of one core), and the whole machine's. */
async function sampleCpu(cfg: Config, hosts: string[], ms: number) {
  const pids = (name: 'runner' | 'agent') =>
    hosts.flatMap((host) => {
      const dir = hostStateDir(cfg.stateDir, host);
      const path = name === 'runner' ? runnerPaths(join(dir, 'guest-runner')).pid : join(dir, 'agent.pid');
      const rec = readLivePidFile(path);
      return rec ? [rec.pid] : [];
    });
  const runners = pids('runner');
  const agents = pids('agent');
  const ticks = (list: number[]) => list.reduce((sum, pid) => sum + cpuTicks(pid), 0);
  const before = { runners: ticks(runners), agents: ticks(agents), machine: machineTicks() };
  await sleep(ms);
  const after = { runners: ticks(runners), agents: ticks(agents), machine: machineTicks() };
  const pct = (t: number) => round((t / TICKS_PER_SECOND / (ms / 1000)) * 100);
  const total = after.machine.total - before.machine.total;
  return {
    runnersPct: pct(after.runners - before.runners),
    agentsPct: pct(after.agents - before.agents),
    machineBusyPct: round(((total - (after.machine.idle - before.machine.idle)) / total) * 100),
    cores: cpus().length,
  };
}

/** utime + stime of a process, in clock ticks (0 once it is gone). */
function cpuTicks(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return Number(fields[11]) + Number(fields[12]);
  } catch {
    return 0;
  }
}

/** The machine's CPU time, all and idle (idle + iowait), in clock ticks. */
function machineTicks(): { total: number; idle: number } {
  const cpu = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
  return { total: cpu.reduce((a, b) => a + b, 0), idle: (cpu[3] ?? 0) + (cpu[4] ?? 0) };
}

/** RSS of every host's runner and agent (by their pid files), in MiB. */
function measureRss(cfg: Config, hosts: string[]) {
  let runnersMiB = 0;
  let agentsMiB = 0;
  let runners = 0;
  for (const host of hosts) {
    const dir = hostStateDir(cfg.stateDir, host);
    const runner = readLivePidFile(runnerPaths(join(dir, 'guest-runner')).pid);
    if (runner) {
      runnersMiB += rssMiB(runner.pid);
      runners++;
    }
    const agent = readLivePidFile(join(dir, 'agent.pid'));
    if (agent) agentsMiB += rssMiB(agent.pid);
  }
  return { runnersMiB, agentsMiB, runners };
}

function rssMiB(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = Number(/^VmRSS:\s+(\d+) kB/m.exec(status)?.[1] ?? 0);
  return kb / 1024;
}

/**
 * Kills every guest the bench started where it is now, stops the agents, lifts a drain mark, and
 * ends any runner still alive (a runner ends by itself once it has no guest and no agent; one that
 * still has guests, because a kill failed, is stopped by its pid file).
 */
async function cleanUp(
  cfg: Config,
  redis: ReturnType<typeof createRedis>,
  hosts: string[],
  where: Map<string, string>,
) {
  await inBatches([...where], GUEST_PARALLELISM, async ([vm, host]) => {
    await runHostOperation(cfg, host, 'killGuest', vm, 'bench cleanup').catch((err: unknown) =>
      process.stderr.write(`scale: kill ${vm} on ${host}: ${String(err)}\n`),
    );
    await releasePlacement(redis, vm, host);
  });
  await inBatches(hosts, AGENT_PARALLELISM, async (host) => {
    const r = await ferry('host', 'stop', host);
    if (r.status !== 0) process.stderr.write(`scale: host stop ${host}: ${r.stderr.trim()}\n`);
  });
  await sleep(2500); // an idle runner ends 2 s after its agent left
  for (const host of hosts) {
    await new DrainMarks(redis).clear(host);
    const pidPath = runnerPaths(join(hostStateDir(cfg.stateDir, host), 'guest-runner')).pid;
    const runner = readLivePidFile(pidPath);
    if (runner) {
      // An idle runner ends 2 s after its agent left; one still there held guests a kill missed.
      const outcome = await stopDaemon(runner, pidPath, 5000);
      process.stderr.write(`scale: the runner of ${host} outlived its agent: ${outcome}\n`);
    }
  }
}

function phaseMs(report: MigrationReport, name: PhaseName): number {
  const p = report.phases.find((x) => x.name === name && x.mode === 'normal');
  return p?.endedAt ? Date.parse(p.endedAt) - Date.parse(p.startedAt) : NaN;
}

function describeFailure(r: MigrationReport): string {
  return `${r.vm}: ${r.outcome}${r.firstError ? ` in ${r.firstError.phase}: ${r.firstError.message}` : ''}`;
}

async function inBatches<T>(items: T[], size: number, fn: (item: T) => Promise<void>): Promise<void> {
  const queue = [...items];
  const worker = async () => {
    for (let item = queue.shift(); item !== undefined; item = queue.shift()) await fn(item);
  };
  await Promise.all(Array.from({ length: size }, worker));
}

/** p50 and p99 (nearest rank), whole milliseconds. */
function percentiles(samples: number[]): [number, number] {
  const s = samples.filter(Number.isFinite).sort((a, b) => a - b);
  if (s.length === 0) return [NaN, NaN];
  const rank = (q: number) => s[Math.min(s.length - 1, Math.ceil(q * s.length) - 1)]!;
  return [Math.round(rank(0.5)), Math.round(rank(0.99))];
}

function loadAverage(): string {
  return readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
}

const OptionsSchema = z.object({
  guests: z.coerce.number().int().min(1).default(500),
  hosts: z.coerce.number().int().min(3).max(250).default(20),
  concurrent: z.coerce.number().int().min(1).default(24),
  memory: z.coerce.number().int().min(1).default(64),
  'dirty-rate': z.coerce.number().min(0).default(2),
  'host-memory': z.coerce.number().int().min(64).default(4096),
  'max-migrations': z.coerce.number().int().min(1).default(DEFAULT_LIMITS.cluster),
  'per-source': z.coerce.number().int().min(1).default(DEFAULT_LIMITS.perSource),
  'per-destination': z.coerce.number().int().min(1).default(DEFAULT_LIMITS.perDestination),
});

const round = (n: number, digits = 1) => Math.round(n * 10 ** digits) / 10 ** digits;

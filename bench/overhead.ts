// `npm run bench -- overhead [--json] [migrations=30] [guests=24] [rounds=3]`: what the v3
// workflow costs around the data transfer. Sequential: a small idle guest (64 MiB, dirty-rate 0)
// migrated back and forth between two hosts, one migration at a time; per migration, the overhead
// is the workflow's wall time from start to result minus QEMU's total migration time
// (report.totalTimeMs). Throughput: many small guests on four hosts, each migrated to the next
// host, all started at once, over a few rounds; completed migrations per minute of the rounds'
// wall time.
import { setTimeout as sleep } from 'node:timers/promises';
import { runHostOperation } from '../cli/host-operation.ts';
import { loadConfig, type Config } from '../infra/config.ts';
import { stackUp } from '../infra/stack/stack.ts';
import { ferry } from '../lab/cli.ts';
import { startTestController, type TestController } from '../lab/migrate.ts';
import { uniqueName } from '../lab/stack.ts';
import type { MigrationReport } from '../protocol/migration.ts';
import { PHASES, type PhaseName } from '../protocol/phases.ts';
import type { BenchContext, Figures } from './run.ts';

const SEQUENTIAL_GUEST_MIB = 64;
const FLEET_GUEST_MIB = 32;
const HOST_MIB = 1024;
/** Migrations before the measured ones: the first pays for cold connections and caches. */
const WARMUP = 2;
const PAIR_ADDRESSES = ['127.0.0.40', '127.0.0.41'];
const FLEET_ADDRESSES = ['127.0.0.42', '127.0.0.43', '127.0.0.44', '127.0.0.45'];
/** How many `ferry guest start` processes run at once while the fleet is set up. */
const START_PARALLELISM = 6;

interface Timed {
  report: MigrationReport;
  wallMs: number;
}

export default async function overheadBench(ctx: BenchContext): Promise<Figures> {
  const { migrations, guests: guestCount, rounds } = parseOptions(ctx.args);

  const cfg = loadConfig();
  await stackUp(cfg, () => undefined);
  const hosts: string[] = [];
  /** Guests started and not yet killed. */
  const guests = new Set<string>();
  let ctl: TestController | undefined;
  try {
    const pair = await startHosts(PAIR_ADDRESSES, hosts);
    const fleet = await startHosts(FLEET_ADDRESSES, hosts);
    ctl = await startTestController(cfg);

    // Sequential: one idle guest, A → B, B → A, ...
    ctx.log(
      `sequential: ${WARMUP} warm-up + ${migrations} migrations of an idle ${SEQUENTIAL_GUEST_MIB} MiB guest`,
    );
    const vm = uniqueName('ovh');
    await startGuest(vm, pair[0]!, SEQUENTIAL_GUEST_MIB, guests);
    await sleep(300);
    const runs: Timed[] = [];
    for (let i = 0; i < WARMUP + migrations; i++) {
      const [source, destination] = i % 2 === 0 ? [pair[0]!, pair[1]!] : [pair[1]!, pair[0]!];
      const run = await timedMigration(ctl, vm, source, destination);
      if (i >= WARMUP) runs.push(run);
    }
    const overheads = runs.map((r) => r.wallMs - r.report.totalTimeMs!);
    const transfers = runs.map((r) => r.report.totalTimeMs!);
    const walls = runs.map((r) => r.wallMs);
    ctx.log('');
    ctx.log(row('per migration (ms)', 'p50', 'p99', 'mean'));
    ctx.log(row('wall (start → result)', ...stats(walls)));
    ctx.log(row('transfer (totalTimeMs)', ...stats(transfers)));
    ctx.log(row('overhead (wall − transfer)', ...stats(overheads)));
    for (const name of PHASES)
      ctx.log(row(`  phase ${name}`, ...stats(runs.map((r) => phaseMs(r.report, name)))));
    ctx.log(row('  outside the phases', ...stats(runs.map((r) => r.wallMs - phasesSpanMs(r.report)))));
    ctx.log(row('  downtime', ...stats(runs.map((r) => r.report.downtimeMs ?? NaN))));

    // Throughput: every guest to the next host, all at once, a few rounds.
    ctx.log('');
    ctx.log(
      `throughput: ${guestCount} guests of ${FLEET_GUEST_MIB} MiB on ${fleet.length} hosts, ${rounds} rounds`,
    );
    let completed = 0;
    let failed = 0;
    let fleetWallMs = 0;
    const concurrentWalls: number[] = [];
    const fleetGuests = Array.from({ length: guestCount }, (_, i) => ({
      vm: uniqueName('ovh'),
      at: i % fleet.length,
    }));
    await inBatches(fleetGuests, START_PARALLELISM, (g) =>
      startGuest(g.vm, fleet[g.at]!, FLEET_GUEST_MIB, guests),
    );
    await sleep(300);
    for (let round = 1; round <= rounds; round++) {
      const started = performance.now();
      const results = await Promise.allSettled(
        fleetGuests.map(async (g) => {
          const to = (g.at + 1) % fleet.length;
          const run = await timedMigration(ctl!, g.vm, fleet[g.at]!, fleet[to]!);
          g.at = to; // a migration that failed left its guest where it was
          return run;
        }),
      );
      const roundMs = performance.now() - started;
      fleetWallMs += roundMs;
      const ok = results.filter((r) => r.status === 'fulfilled').map((r) => r.value);
      completed += ok.length;
      failed += results.length - ok.length;
      concurrentWalls.push(...ok.map((r) => r.wallMs));
      for (const r of results) if (r.status === 'rejected') ctx.log(`  failed: ${describe(r.reason)}`);
      ctx.log(`  round ${round}: ${ok.length}/${results.length} completed in ${Math.round(roundMs)} ms`);
    }
    if (completed === 0) throw new Error('no migration of the fleet completed');

    const [overheadP50, overheadP99, overheadMean] = stats(overheads);
    const [, , transferMean] = stats(transfers);
    const [wallP50] = stats(walls);
    const migrationsPerMinute = completed / (fleetWallMs / 60_000);
    const sequentialPerMinute = 60_000 / wallP50;
    const [concurrentWallP50, concurrentWallP99] = stats(concurrentWalls);
    ctx.log('');
    ctx.log(`overhead p50 ${overheadP50} ms, p99 ${overheadP99} ms (${migrations} migrations)`);
    ctx.log(`overhead p50 / mean transfer time: ${round(overheadP50 / transferMean, 2)}`);
    ctx.log(
      `${round(migrationsPerMinute)} migrations/min with ${guestCount} concurrent on ${fleet.length} hosts ` +
        `(${round(sequentialPerMinute)}/min one at a time: ×${round(migrationsPerMinute / sequentialPerMinute, 2)}); ` +
        `wall per migration under load p50 ${concurrentWallP50} ms, p99 ${concurrentWallP99} ms`,
    );
    return {
      overheadP50Ms: overheadP50,
      overheadP99Ms: overheadP99,
      overheadMeanMs: overheadMean,
      transferMeanMs: transferMean,
      wallP50Ms: wallP50,
      overheadP50OverTransferMean: round(overheadP50 / transferMean, 2),
      sequentialMigrations: migrations,
      migrationsPerMinute: round(migrationsPerMinute),
      sequentialPerMinute: round(sequentialPerMinute),
      concurrencySpeedup: round(migrationsPerMinute / sequentialPerMinute, 2),
      concurrentWallP50Ms: concurrentWallP50,
      concurrentWallP99Ms: concurrentWallP99,
      fleet: {
        hosts: fleet.length,
        guests: guestCount,
        guestMiB: FLEET_GUEST_MIB,
        rounds,
        completed,
        failed,
      },
    };
  } finally {
    await ctl?.stop().catch(() => undefined);
    await killGuests(cfg, [...guests], hosts, guests);
    for (const h of hosts) {
      const r = await ferry('host', 'stop', h);
      if (r.status !== 0) process.stderr.write(`overhead: could not stop host ${h}: ${r.stderr.trim()}\n`);
    }
  }
}

async function startHosts(addresses: string[], started: string[]): Promise<string[]> {
  const names: string[] = [];
  for (const address of addresses) {
    const name = uniqueName('ovh');
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
    if (r.status !== 0) throw new Error(`host start ${name}: ${r.stderr.trim()}`);
    started.push(name);
    names.push(name);
  }
  return names;
}

async function startGuest(vm: string, host: string, memoryMiB: number, live: Set<string>): Promise<void> {
  const r = await ferry(
    'guest',
    'start',
    vm,
    '--host',
    host,
    '--memory',
    String(memoryMiB),
    '--dirty-rate',
    '0',
  );
  if (r.status !== 0) throw new Error(`guest start ${vm}: ${r.stderr.trim()}`);
  live.add(vm);
}

export async function timedMigration(
  ctl: TestController,
  vm: string,
  source: string,
  destination: string,
): Promise<Timed> {
  const started = performance.now();
  const report = await ctl.run({ vm, source, destination });
  const wallMs = performance.now() - started;
  if (report.outcome !== 'completed' || report.totalTimeMs === null) {
    throw new Error(
      `${vm} ${source} → ${destination}: ${report.outcome}` +
        (report.firstError ? ` in ${report.firstError.phase}: ${report.firstError.message}` : ''),
    );
  }
  return { report, wallMs };
}

/** Guests outlive their agent, so each goes explicitly: where placement says, else on every host. */
async function killGuests(cfg: Config, vms: string[], hosts: string[], live: Set<string>): Promise<void> {
  await inBatches(vms, START_PARALLELISM, async (vm) => {
    if ((await ferry('guest', 'kill', vm)).status !== 0) {
      for (const h of hosts)
        await runHostOperation(cfg, h, 'killGuest', vm, 'bench cleanup').catch(() => undefined);
    }
    live.delete(vm);
  });
}

async function inBatches<T>(items: T[], size: number, fn: (item: T) => Promise<void>): Promise<void> {
  for (let i = 0; i < items.length; i += size) await Promise.all(items.slice(i, i + size).map(fn));
}

function phaseMs(report: MigrationReport, name: PhaseName): number {
  const p = report.phases.find((x) => x.name === name && x.mode === 'normal');
  return p?.endedAt ? Date.parse(p.endedAt) - Date.parse(p.startedAt) : NaN;
}

/** From Begin's start to the last phase's end, in workflow time. */
function phasesSpanMs(report: MigrationReport): number {
  const first = report.phases[0];
  const last = report.phases.at(-1);
  return first && last?.endedAt ? Date.parse(last.endedAt) - Date.parse(first.startedAt) : NaN;
}

/** p50, p99 (nearest rank) and mean, in whole milliseconds. */
export function stats(samples: number[]): [number, number, number] {
  const s = samples.filter((n) => Number.isFinite(n)).sort((a, b) => a - b);
  if (s.length === 0) return [NaN, NaN, NaN];
  const rank = (q: number) => s[Math.min(s.length - 1, Math.ceil(q * s.length) - 1)]!;
  const mean = s.reduce((a, b) => a + b, 0) / s.length;
  return [Math.round(rank(0.5)), Math.round(rank(0.99)), Math.round(mean)];
}

function row(label: string, ...cells: (string | number)[]): string {
  return label.padEnd(30) + cells.map((c) => String(c).padStart(8)).join('');
}

const DEFAULT_OPTIONS = { migrations: 30, guests: 24, rounds: 3 };

/** `name=N` arguments (the runner passes on positionals only) over DEFAULT_OPTIONS. */
function parseOptions(args: string[]): typeof DEFAULT_OPTIONS {
  const options = { ...DEFAULT_OPTIONS };
  for (const arg of args) {
    const [name, value] = arg.split('=');
    const n = Number(value);
    if (!name || !(name in options) || !Number.isInteger(n) || n < 1) {
      throw new Error(`overhead: expected migrations=N, guests=N or rounds=N (N ≥ 1), got ${arg}`);
    }
    options[name as keyof typeof options] = n;
  }
  return options;
}

function describe(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

const round = (n: number, digits = 1) => Math.round(n * 10 ** digits) / 10 ** digits;

// `npm run bench -- drain [--json] [guests=50] [max-migrations=N] [per-source=M] [per-destination=K]`:
// the time to drain 50 small emulated guests (32–64 MiB, dirtying 0–500 pages/s) from one host to
// three, against a lower bound that ferry cannot move.
//
// The bound: every byte the drain's migrations sent (their own byte counts) crosses loopback, whose
// raw TCP speed is measured in the same run; the migrations share that wire, so running several at
// once does not make it faster. The drain runs at most c = min(N, M × sources, K × destinations)
// migrations at once, so it takes at least ceil(guests / c) waves, and each wave ends with one
// QEMU-style switchover: the guest stopped while its last pages go, taken as the median downtime
// the drain's own guests saw (their stop-copy-resume, which the orchestration does not lengthen).
// bound = total bytes / loopback speed + waves × that switchover; `ratio` is how far above it the
// drain is.
//
// Next to it, the bound the bench used before (`soloBoundSeconds`, `soloRatio`): ferry's own solo
// migration speed, measured one at a time just before the drain, times c. It shows what running
// migrations side by side costs, but hides ferry's per-migration overhead in its own yardstick.
import { z } from 'zod';
import { loadConfig } from '../infra/config.ts';
import { createRedis } from '../infra/redis/client.ts';
import { stackUp } from '../infra/stack/stack.ts';
import { DEFAULT_LIMITS, resolveLimits } from '../protocol/cluster.ts';
import type { drain } from '../workflows/drain.ts';
import type { migrate } from '../workflows/migrate.ts';
import type { MigrationReport } from '../protocol/migration.ts';
import { smallGuests, startCluster, type GuestSpec } from '../lab/cluster.ts';
import { startTestController, type TestController } from '../lab/migrate.ts';
import { uniqueName } from '../lab/stack.ts';
import { parseBenchOptions } from './options.ts';
import type { BenchContext, Figures } from './run.ts';
import { measureLoopbackBps } from './tunnel-throughput.ts';

const DESTINATIONS = 3;
/** Solo migrations that measure T: one per guest size class of the drained guests. */
const CALIBRATION = 6;
const MiB = 1024 * 1024;

export default async function drainBench(ctx: BenchContext): Promise<Figures> {
  const options = parseBenchOptions('drain', OptionsSchema, ctx.args);
  const count = options.guests;
  const limits = resolveLimits({
    cluster: options['max-migrations'],
    perSource: options['per-source'],
    perDestination: options['per-destination'],
  });
  const cfg = loadConfig();
  await stackUp(cfg, () => undefined);
  const redis = createRedis(cfg, 'bench-drain');
  const cluster = await startCluster(
    cfg,
    redis,
    [
      { address: '127.0.0.90', memoryMiB: 8192 },
      { address: '127.0.0.91', memoryMiB: 4096 },
      { address: '127.0.0.92', memoryMiB: 4096 },
      { address: '127.0.0.93', memoryMiB: 4096 },
    ],
    'bench',
  );
  let ctl: TestController | undefined;
  try {
    ctl = await startTestController(cfg);
    const [source, ...destinations] = cluster.hosts as [string, ...string[]];

    // The calibration guests start with the drained ones, so they have dirtied as much memory by
    // the time they move: a freshly started guest sends little more than zero pages.
    ctx.log(`starting ${count} + ${CALIBRATION} guests on ${source}...`);
    const calibration = smallGuests(CALIBRATION, 'cal');
    const guests = smallGuests(count);
    await cluster.startGuests(source, [...calibration, ...guests]);

    ctx.log(`one migration at a time, ${CALIBRATION} of them...`);
    let soloBytes = 0;
    let soloSeconds = 0;
    for (const g of calibration) {
      const started = performance.now();
      const report = await migrateOnce(ctl, g, source, destinations[0]!);
      soloSeconds += (performance.now() - started) / 1000;
      soloBytes += report.bytes ?? 0;
    }
    const perMigrationBps = soloBytes / soloSeconds;
    ctx.log(
      `  ${(soloSeconds / CALIBRATION).toFixed(2)} s and ${(soloBytes / CALIBRATION / MiB).toFixed(1)} MiB per migration: ${(perMigrationBps / MiB).toFixed(1)} MiB/s`,
    );

    const concurrency = Math.min(limits.cluster, limits.perSource, limits.perDestination * DESTINATIONS);
    ctx.log(`draining ${source} (limits ${JSON.stringify(limits)}: ${concurrency} at once)...`);
    const started = performance.now();
    const handle = await ctl.client.workflow.start<typeof drain>('drain', {
      taskQueue: ctl.taskQueue,
      workflowId: uniqueName('drain'),
      args: [{ host: source, destinations, limits }],
    });
    const report = await handle.result();
    const drainSeconds = (performance.now() - started) / 1000;
    if (report.moved !== count) {
      throw new Error(
        `the drain moved ${report.moved} of ${count}: ${JSON.stringify(report.guests.filter((g) => g.outcome !== 'completed'))}`,
      );
    }
    const reports = await Promise.all(
      report.guests.map((g) =>
        ctl!.client.workflow.getHandle<typeof migrate>(g.attempts.at(-1)!.migrationId).result(),
      ),
    );
    const totalBytes = reports.reduce((sum, r) => sum + (r.bytes ?? 0), 0);

    ctx.log('raw loopback TCP, 512 MiB...');
    const loopbackBps = await measureLoopbackBps(512 * MiB);
    const waves = Math.ceil(count / concurrency);
    const downtimes = reports.map((r) => r.downtimeMs ?? 0).sort((a, b) => a - b);
    const switchoverMs = downtimes[Math.floor(downtimes.length / 2)] ?? 0;
    const lowerBoundSeconds = totalBytes / loopbackBps + (waves * switchoverMs) / 1000;
    const soloBoundSeconds = totalBytes / (concurrency * perMigrationBps);
    ctx.log(
      `  ${drainSeconds.toFixed(1)} s; lower bound ${lowerBoundSeconds.toFixed(1)} s ` +
        `(${(totalBytes / MiB).toFixed(0)} MiB at ${(loopbackBps / MiB).toFixed(0)} MiB/s, ` +
        `${waves} waves × ${switchoverMs} ms); from solo migrations ${soloBoundSeconds.toFixed(1)} s`,
    );
    return {
      drainSeconds: round(drainSeconds),
      lowerBoundSeconds: round(lowerBoundSeconds),
      ratio: round(drainSeconds / lowerBoundSeconds, 2),
      loopbackMiBps: round(loopbackBps / MiB),
      waves,
      switchoverMs,
      soloBoundSeconds: round(soloBoundSeconds),
      soloRatio: round(drainSeconds / soloBoundSeconds, 2),
      guests: count,
      totalMiB: round(totalBytes / MiB),
      concurrency,
      limits,
      soloMigrationSeconds: round(soloSeconds / CALIBRATION, 2),
      soloMigrationMiB: round(soloBytes / CALIBRATION / MiB),
      perMigrationMiBps: round(perMigrationBps / MiB),
      attempts: report.guests.reduce((sum, g) => sum + g.attempts.length, 0),
    };
  } finally {
    await ctl?.stop();
    await cluster.stop();
    redis.disconnect();
  }
}

async function migrateOnce(
  ctl: TestController,
  g: GuestSpec,
  from: string,
  to: string,
): Promise<MigrationReport> {
  const report = await ctl.run({ vm: g.vm, source: from, destination: to });
  if (report.outcome !== 'completed')
    throw new Error(`calibration migration of ${g.vm}: ${report.firstError?.message}`);
  return report;
}

const OptionsSchema = z.object({
  guests: z.coerce.number().int().min(1).default(50),
  'max-migrations': z.coerce.number().int().min(1).default(DEFAULT_LIMITS.cluster),
  'per-source': z.coerce.number().int().min(1).default(DEFAULT_LIMITS.perSource),
  'per-destination': z.coerce.number().int().min(1).default(DEFAULT_LIMITS.perDestination),
});

const round = (n: number, digits = 1) => Math.round(n * 10 ** digits) / 10 ** digits;

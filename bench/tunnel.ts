// `npm run bench -- tunnel`: the data plane. Tunnel throughput against raw loopback TCP in the same
// run; an idle 1 GiB emulated guest migrated between two host agents (time and downtime); and a
// real QEMU guest migrated through the agents' tunnel against the same guest migrated
// QEMU-to-QEMU directly over a unix socket (ratio of QEMU's own total-time), once idle (256 MiB:
// mostly set-up and zero pages) and once busy (512 MiB rewriting 128 MiB of data as fast as TCG
// runs it: the data path, pass after pass).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { BASELINE_PARAMETERS } from '../hosts/guests/qemu/baseline.ts';
import { launchQemuGuest } from '../hosts/guests/qemu/launch.ts';
import { migrateDirect } from '../hosts/guests/qemu/migration.ts';
import { buildGuestImage } from '../hosts/qemu-image/build.ts';
import { loadConfig } from '../infra/config.ts';
import { stackUp } from '../infra/stack/stack.ts';
import type { MigrateInput, MigrationReport } from '../protocol/migration.ts';
import { twoAgents } from '../lab/agents.ts';
import { startTestController, type TestController } from '../lab/migrate.ts';
import { ensureQemu } from '../lab/qemu.ts';
import { uniqueName } from '../lab/stack.ts';
import type { BenchContext, Figures } from './run.ts';
import { measureTunnelThroughput } from './tunnel-throughput.ts';

const QEMU_MIB = 256;
/** The busy guest, the same on both paths: its program rewrites `workingSetMiB` without pause. */
const DIRTYING = { memoryMiB: 512, workingSetMiB: 128 } as const;
/** Long enough for the busy guest to have written its whole working set before it moves. */
const DIRTYING_WARMUP_MS = 8000;

export default async function tunnelBench(ctx: BenchContext): Promise<Figures> {
  ctx.log('tunnel vs raw TCP, 1 GiB of savevm stream, same process, 5 rounds...');
  const t = await measureTunnelThroughput(1024 * 1024 * 1024);
  ctx.log(
    `  tunnel ${t.tunnelMBps.toFixed(0)} MB/s, raw ${t.rawMBps.toFixed(0)} MB/s (medians); ratio per round ${t.ratios.join(', ')}`,
  );

  const cfg = loadConfig();
  await stackUp(cfg, () => undefined);
  ensureQemu();
  const agents = await twoAgents(cfg, ['127.0.0.8', '127.0.0.9'], { memoryMiB: 4096, prefix: 'bench' });
  let ctl: TestController | undefined;
  try {
    ctl = await startTestController(cfg);
    const migrate = completed(ctl);
    const { source, destination } = agents;
    const bandwidthMiBps = BASELINE_PARAMETERS['max-bandwidth'] / MiB;

    ctx.log('idle 1 GiB emulated guest between two agents...');
    const big = uniqueName('vm');
    await agents.startGuest(big, '--memory', '1024');
    const wallStart = performance.now();
    const emulated = await migrate({
      vm: big,
      source,
      destination,
      maxDowntimeMs: 300,
      bandwidthMiBps,
      progressTimeoutMs: 60_000,
    });
    const emulatedWall = (performance.now() - wallStart) / 1000;

    ctx.log(`QEMU ${QEMU_MIB} MiB guest through the agents' tunnel...`);
    const q = uniqueName('vm');
    await agents.startGuest(q, '--memory', String(QEMU_MIB), '--kind', 'qemu');
    await sleep(1000);
    const tunnelled = await migrate({
      vm: q,
      source,
      destination,
      maxDowntimeMs: BASELINE_PARAMETERS['downtime-limit'],
      bandwidthMiBps,
      progressTimeoutMs: 60_000,
    });

    ctx.log(`the same QEMU guest QEMU-to-QEMU directly...`);
    const directMs = await directQemuMigration(cfg.cacheDir, { memoryMiB: QEMU_MIB }, 1000);

    ctx.log(
      `busy QEMU ${DIRTYING.memoryMiB} MiB guest (rewriting ${DIRTYING.workingSetMiB} MiB) through the tunnel...`,
    );
    const busy = uniqueName('vm');
    await agents.startGuest(
      busy,
      '--memory',
      String(DIRTYING.memoryMiB),
      '--kind',
      'qemu',
      '--working-set',
      String(DIRTYING.workingSetMiB),
    );
    await sleep(DIRTYING_WARMUP_MS);
    // It may not converge through the tunnel: then the figure is that, with how fast the tunnel
    // carried it, rather than no figures at all.
    const busyStarted = performance.now();
    const busyTunnelled = await ctl.run({
      vm: busy,
      source,
      destination,
      maxDowntimeMs: BASELINE_PARAMETERS['downtime-limit'],
      bandwidthMiBps,
      progressTimeoutMs: 60_000,
    });
    ctx.log('the same busy guest QEMU-to-QEMU directly...');
    const busyDirectMs = await directQemuMigration(cfg.cacheDir, DIRTYING, DIRTYING_WARMUP_MS);
    const busyConverged = busyTunnelled.outcome === 'completed' && busyTunnelled.totalTimeMs !== null;
    const busySeconds = (busyTunnelled.totalTimeMs ?? performance.now() - busyStarted) / 1000;
    if (!busyConverged)
      ctx.log(`  through the tunnel: ${busyTunnelled.firstError?.message ?? busyTunnelled.outcome}`);

    const figures = {
      tunnelMBps: round(t.tunnelMBps),
      rawMBps: round(t.rawMBps),
      ratio: t.ratio,
      ratios: t.ratios,
      emulated1GiBSeconds: round(emulated.totalTimeMs / 1000, 3),
      emulated1GiBWallSeconds: round(emulatedWall, 2),
      emulated1GiBDowntimeMs: emulated.downtimeMs,
      qemuTunnelledMs: tunnelled.totalTimeMs,
      qemuDirectMs: directMs,
      qemuTunnelledVsDirect: round(tunnelled.totalTimeMs / directMs, 2),
      qemuDirtyingConverged: busyConverged,
      qemuDirtyingTunnelledMs: busyConverged ? (busyTunnelled.totalTimeMs ?? NaN) : 'did not converge',
      /** What the tunnel carried per second while it tried (converged or not). */
      qemuDirtyingTunnelledMBps: round((busyTunnelled.bytes ?? 0) / 1e6 / busySeconds),
      qemuDirtyingDirectMs: busyDirectMs,
      qemuDirtyingTunnelledVsDirect: busyConverged
        ? round((busyTunnelled.totalTimeMs ?? NaN) / busyDirectMs, 2)
        : 'did not converge through the tunnel',
    };
    return figures;
  } finally {
    await ctl?.stop();
    await agents.stop();
  }
}

const MiB = 1024 * 1024;

/** Runs a migration that has to complete; its timing figures. */
function completed(ctl: TestController) {
  return async (input: MigrateInput) => {
    const report: MigrationReport = await ctl.run(input);
    const { outcome, firstError, totalTimeMs, downtimeMs } = report;
    if (outcome !== 'completed' || totalTimeMs === null || downtimeMs === null) {
      throw new Error(`migration of ${input.vm} ${outcome}: ${firstError?.message ?? 'no figures'}`);
    }
    return { totalTimeMs, downtimeMs };
  };
}

/**
 * QEMU's total-time for a guest as the agents start it (the image's program, `guest` its memory and
 * working set), migrated over a plain unix socket after `warmupMs` of running.
 */
async function directQemuMigration(
  cacheDir: string,
  guest: { memoryMiB: number; workingSetMiB?: number },
  warmupMs: number,
): Promise<number> {
  const dir = mkdtempSync(join(tmpdir(), 'fq-'));
  const image = await buildGuestImage(join(cacheDir, 'guest-images'));
  const common = { ...guest, image };
  const source = await launchQemuGuest({
    ...common,
    vm: 'direct-src',
    qmpSocket: join(dir, 's.sock'),
    paused: false,
    incoming: false,
  });
  const destination = await launchQemuGuest({
    ...common,
    vm: 'direct-dst',
    qmpSocket: join(dir, 'd.sock'),
    paused: true,
    incoming: true,
  });
  try {
    await sleep(warmupMs);
    const info = await migrateDirect(source.qmp, destination.qmp, {
      socket: join(dir, 'm.sock'),
      parameters: { ...BASELINE_PARAMETERS },
    });
    return info['total-time'] ?? NaN;
  } finally {
    await source.kill();
    await destination.kill();
    rmSync(dir, { recursive: true, force: true });
  }
}

const round = (n: number, digits = 1) => Math.round(n * 10 ** digits) / 10 ** digits;

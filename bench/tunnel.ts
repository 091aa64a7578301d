// `npm run bench -- tunnel`: the data plane. Tunnel throughput against raw loopback TCP in the same
// run; an idle 1 GiB emulated guest migrated between two host agents (time and downtime); and a
// real QEMU guest migrated through the agents' tunnel against the same guest migrated
// QEMU-to-QEMU directly over a unix socket (ratio of QEMU's own total-time).
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { runHostOperation } from '../cli/host-operation.ts';
import { BASELINE_PARAMETERS } from '../hosts/guests/qemu/baseline.ts';
import { launchQemuGuest } from '../hosts/guests/qemu/launch.ts';
import { migrateDirect } from '../hosts/guests/qemu/migration.ts';
import { buildGuestImage } from '../hosts/qemu-image/build.ts';
import { loadConfig } from '../infra/config.ts';
import { stackUp } from '../infra/stack/stack.ts';
// The bare migration of the agent tests; the v3 workflow (issue 5) will replace it here.
import { ferry } from '../test/support/cli.ts';
import { runMigration } from '../test/support/migrate.ts';
import { uniqueName } from '../test/support/stack.ts';
import type { BenchContext, Figures } from './run.ts';
import { measureTunnelThroughput } from './tunnel-throughput.ts';

const QEMU_MIB = 256;

export default async function tunnelBench(ctx: BenchContext): Promise<Figures> {
  ctx.log('tunnel vs raw TCP, 1 GiB of savevm stream, same process...');
  const t = await measureTunnelThroughput(1024 * 1024 * 1024);
  ctx.log(`  tunnel ${t.tunnelMBps.toFixed(0)} MB/s, raw ${t.rawMBps.toFixed(0)} MB/s`);

  const cfg = loadConfig();
  await stackUp(cfg, () => undefined);
  const [a, b] = [uniqueName('bench'), uniqueName('bench')];
  const guests: { vm: string; host: string }[] = [];
  try {
    for (const [h, ip] of [
      [a, '127.0.0.8'],
      [b, '127.0.0.9'],
    ] as const) {
      const r = await ferry('host', 'start', h, '--address', ip, '--memory', '4096', '--detach');
      if (r.status !== 0) throw new Error(r.stderr.trim());
    }
    const start = async (vm: string, ...args: string[]) => {
      const r = await ferry('guest', 'start', vm, '--host', a, ...args);
      if (r.status !== 0) throw new Error(r.stderr.trim());
      guests.push({ vm, host: a }, { vm, host: b });
    };

    ctx.log('idle 1 GiB emulated guest between two agents...');
    const big = uniqueName('vm');
    await start(big, '--memory', '1024');
    const wallStart = performance.now();
    const emulated = await runMigration(cfg, {
      vm: big,
      kind: 'emulated',
      memoryMiB: 1024,
      source: a,
      destination: b,
      downtimeLimitMs: 300,
      maxBandwidthBytesPerSec: BASELINE_PARAMETERS['max-bandwidth'],
      progressTimeoutMs: 60_000,
    });
    const emulatedWall = (performance.now() - wallStart) / 1000;

    ctx.log(`QEMU ${QEMU_MIB} MiB guest through the agents' tunnel...`);
    const q = uniqueName('vm');
    await start(q, '--memory', String(QEMU_MIB), '--kind', 'qemu');
    await sleep(1000);
    const tunnelled = await runMigration(cfg, {
      vm: q,
      kind: 'qemu',
      memoryMiB: QEMU_MIB,
      source: a,
      destination: b,
      downtimeLimitMs: BASELINE_PARAMETERS['downtime-limit'],
      maxBandwidthBytesPerSec: BASELINE_PARAMETERS['max-bandwidth'],
      progressTimeoutMs: 60_000,
    });

    ctx.log(`the same QEMU guest QEMU-to-QEMU directly...`);
    const directMs = await directQemuMigration(cfg.cacheDir);

    const figures = {
      tunnelMBps: round(t.tunnelMBps),
      rawMBps: round(t.rawMBps),
      ratio: round(t.tunnelMBps / t.rawMBps, 3),
      emulated1GiBSeconds: round(emulated.result.out.totalTimeMs / 1000, 3),
      emulated1GiBWallSeconds: round(emulatedWall, 2),
      emulated1GiBDowntimeMs: emulated.result.out.downtimeMs,
      qemuTunnelledMs: tunnelled.result.out.totalTimeMs,
      qemuDirectMs: directMs,
      qemuTunnelledVsDirect: round(tunnelled.result.out.totalTimeMs / directMs, 2),
    };
    return figures;
  } finally {
    for (const g of guests)
      await runHostOperation(cfg, g.host, 'killGuest', g.vm, 'bench cleanup').catch(() => undefined);
    for (const g of guests) await ferry('guest', 'kill', g.vm);
    await ferry('host', 'stop', a);
    await ferry('host', 'stop', b);
  }
}

/** QEMU's total-time for the agents' default QEMU guest migrated over a plain unix socket. */
async function directQemuMigration(cacheDir: string): Promise<number> {
  const dir = mkdtempSync(join(tmpdir(), 'fq-'));
  const image = await buildGuestImage(join(cacheDir, 'guest-images'));
  const common = { memoryMiB: QEMU_MIB, image };
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
    await sleep(1000);
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

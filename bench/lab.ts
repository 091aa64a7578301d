// `npm run bench -- lab [hosts=10] [memoryMiB=256] [security=on|off]` (root): the lab's own
// figures, on a lab of its own (fresh state dir and ports). labUpSeconds: `lab up` of N hosts,
// from nothing to every agent registered in its namespace (the stack's start included).
// crossNamespaceMigrationSeconds: one emulated guest of memoryMiB, its pages written by a warm-up
// and still dirtying 39 MiB/s, migrated from host 1's namespace to host 2's over the bridge, as
// `ferry migrate` reports its total time. The security bench calls labFigures with security on.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { join } from 'node:path';
import { z } from 'zod';
import { FerryError } from '../errors/ferry-error.ts';
import { ferryWithEnv } from '../lab/cli.ts';
import { labDown, labUp, MAX_LAB_HOSTS } from '../lab/netns.ts';
import { privateLabEnv } from '../lab/netns-env.ts';
import type { MigrationReport } from '../protocol/migration.ts';
import type { BenchContext, Figures } from './run.ts';
import { parseBenchOptions } from './options.ts';

export class LabBenchError extends FerryError {
  readonly code = 'BENCH_LAB_FAILED';
}

/** The guest's workload while it warms up and migrates: 39 MiB/s of writes (4 KiB pages). */
const DIRTY_PAGES_PER_SECOND = 10_000;

export interface LabFigures {
  labUpSeconds: number;
  crossNamespaceMigrationSeconds: number;
  hosts: number;
  guestMiB: number;
  downtimeMs: number;
  passes: number;
  /** What crossed the bridge: the stream's bytes, as the migration counted them. */
  streamMiB: number;
}

/**
 * Builds a lab of `hosts` with `extraEnv` (FERRY_SECURITY=on for the security bench), migrates one
 * guest across two namespaces, and takes the lab down again, also on failure.
 */
export async function labFigures(
  opts: { hosts: number; memoryMiB: number; extraEnv?: Record<string, string> },
  log: (line: string) => void,
): Promise<LabFigures> {
  const root = mkdtempSync(join(tmpdir(), 'ferry-bench-lab-'));
  const env: NodeJS.ProcessEnv = { ...process.env, ...(await privateLabEnv(root)), ...opts.extraEnv };
  delete env.FERRY_BIND_HOST;
  try {
    log(`lab up, ${opts.hosts} hosts...`);
    const up = await labUp(
      env,
      { hosts: opts.hosts, prefix: 'bench', memoryMiB: Math.max(1024, opts.memoryMiB * 2) },
      log,
    );
    const cli = { ...(env as Record<string, string>), FERRY_BIND_HOST: up.state.bridgeAddress };
    const [a, b] = up.state.hosts;
    const start = await ferryWithEnv(
      cli,
      240_000,
      'guest',
      'start',
      'bench-vm',
      '--host',
      a!.name,
      '--memory',
      String(opts.memoryMiB),
      '--dirty-rate',
      String(DIRTY_PAGES_PER_SECOND),
    );
    if (start.status !== 0) throw new LabBenchError(`guest start: ${start.stderr.trim()}`);
    // An emulated guest's untouched page is zero and skipped by the stream: the warm-up writes
    // about 95 % of its pages first (random stores, 3 per page on average), as a busy guest has.
    const warmupMs = Math.ceil(((3 * opts.memoryMiB * 256) / DIRTY_PAGES_PER_SECOND) * 1000);
    log(`warming the guest up for ${Math.round(warmupMs / 1000)} s...`);
    await sleep(warmupMs);
    const m = await ferryWithEnv(cli, 600_000, 'migrate', 'bench-vm', '--to', b!.name, '--json');
    if (m.status !== 0) throw new LabBenchError(`migrate: ${m.stderr.trim() || m.stdout.trim()}`);
    const report = JSON.parse(m.stdout) as MigrationReport;
    if (report.outcome !== 'completed') throw new LabBenchError(`the migration ended ${report.outcome}`);
    await ferryWithEnv(cli, 60_000, 'controller', 'stop');
    return {
      labUpSeconds: Math.round(up.seconds * 10) / 10,
      crossNamespaceMigrationSeconds: Math.round((report.totalTimeMs ?? 0) / 100) / 10,
      hosts: opts.hosts,
      guestMiB: opts.memoryMiB,
      // A completed migration reports both; 0 only if a report lacked them.
      downtimeMs: report.downtimeMs ?? 0,
      passes: report.passes ?? 0,
      streamMiB: Math.round((report.bytes ?? 0) / 1024 / 102.4) / 10,
    };
  } finally {
    await labDown(env, log);
    rmSync(root, { recursive: true, force: true });
  }
}

export default async function labBench(ctx: BenchContext): Promise<Figures> {
  const o = parseBenchOptions(
    'lab',
    z.object({
      hosts: z.coerce.number().int().min(2).max(MAX_LAB_HOSTS).default(10),
      memoryMiB: z.coerce.number().int().min(16).max(4096).default(256),
      security: z.enum(['on', 'off']).optional(),
    }),
    ctx.args,
  );
  const figures = await labFigures(
    {
      hosts: o.hosts,
      memoryMiB: o.memoryMiB,
      ...(o.security ? { extraEnv: { FERRY_SECURITY: o.security } } : {}),
    },
    (line) => ctx.log(line),
  );
  return { ...figures, security: o.security ?? 'as configured' };
}

// `npm run bench -- security [--json] [sizeMiB=512] [rounds=5] [migrations=10] [lab=on|off] [hosts=10]`:
// what ferry's security costs, measured in one run (issue 15). The tunnel with mutual TLS against
// the same tunnel in plain TCP (tlsTunnelMBps / plainTunnelMBps, goal ≥ 0.8); a migration's
// overhead around its transfer with FERRY_SECURITY on against off, each on a stack of its own
// started one after the other (overheadP50Ms / plainOverheadP50Ms, goal ≤ 1.2); and, with lab=on
// (root), a lab of `hosts` network namespaces with security on (labUpSeconds,
// crossNamespaceMigrationSeconds for a 256 MiB guest: bench/lab.ts's labFigures).
import { z } from 'zod';
import { labFigures, type LabFigures } from './lab.ts';
import { parseBenchOptions } from './options.ts';
import type { BenchContext, Figures } from './run.ts';
import { sequentialOverhead } from './security-overhead.ts';
import { measureTlsThroughput } from './security-throughput.ts';

const LAB_GUEST_MIB = 256;

export default async function securityBench(ctx: BenchContext): Promise<Figures> {
  const o = parseBenchOptions(
    'security',
    z.object({
      sizeMiB: z.coerce.number().int().min(16).max(8192).default(512),
      rounds: z.coerce.number().int().min(1).max(21).default(5),
      migrations: z.coerce.number().int().min(1).max(200).default(10),
      lab: z.enum(['on', 'off']).default('on'),
      hosts: z.coerce.number().int().min(2).max(200).default(10),
    }),
    ctx.args,
  );

  ctx.log(`tunnel, mutual TLS vs plain TCP: ${o.sizeMiB} MiB of savevm stream, ${o.rounds} rounds...`);
  const t = await measureTlsThroughput(o.sizeMiB * 2 ** 20, o.rounds);
  ctx.log(
    `  TLS ${t.tlsTunnelMBps} MB/s, plain ${t.plainTunnelMBps} MB/s (medians, ${t.cipher}); ratio per round ${t.ratios.join(', ')}; ` +
      `CPU ${t.tlsCpuSecondsPerGB} vs ${t.plainCpuSecondsPerGB} s/GB`,
  );

  const plain = await sequentialOverhead('off', o.migrations, (l) => ctx.log(`  ${l}`));
  const secure = await sequentialOverhead('on', o.migrations, (l) => ctx.log(`  ${l}`));
  const overheadRatio = Math.round((secure.overheadP50Ms / plain.overheadP50Ms) * 100) / 100;
  ctx.log(
    `  overhead p50: ${secure.overheadP50Ms} ms with security, ${plain.overheadP50Ms} ms without (×${overheadRatio})`,
  );

  let lab: LabFigures | null = null;
  let labSkipped: string | null = null;
  if (o.lab === 'on') {
    lab = await labFigures(
      { hosts: o.hosts, memoryMiB: LAB_GUEST_MIB, extraEnv: { FERRY_SECURITY: 'on' } },
      (l) => ctx.log(`  ${l}`),
    );
  } else {
    labSkipped = 'lab=off';
  }

  return {
    tlsTunnelMBps: t.tlsTunnelMBps,
    plainTunnelMBps: t.plainTunnelMBps,
    tlsOverPlain: t.ratio,
    tlsRatios: t.ratios,
    cipher: t.cipher,
    tlsCpuSecondsPerGB: t.tlsCpuSecondsPerGB,
    plainCpuSecondsPerGB: t.plainCpuSecondsPerGB,
    overheadP50Ms: secure.overheadP50Ms,
    plainOverheadP50Ms: plain.overheadP50Ms,
    overheadRatio,
    overheadP99Ms: secure.overheadP99Ms,
    plainOverheadP99Ms: plain.overheadP99Ms,
    migrations: o.migrations,
    labUpSeconds: lab?.labUpSeconds ?? null,
    crossNamespaceMigrationSeconds: lab?.crossNamespaceMigrationSeconds ?? null,
    ...(lab ? { labHosts: lab.hosts, labGuestMiB: lab.guestMiB, labDowntimeMs: lab.downtimeMs } : {}),
    ...(labSkipped ? { labSkipped } : {}),
  };
}

// Runs drills one after another (each on its own cluster and addresses) and sums them up as the
// `--matrix --json` object.
import type { Config } from '../infra/config.ts';
import type { Logger } from '../infra/logging/logger.ts';
import type { LabHost } from '../lab/netns-state.ts';
import type { Drill } from './catalog.ts';
import { DRILL_ADDRESS_COUNT, type LinksProvider } from './cluster.ts';
import { runDrill, type DrillResult, type DrillSettings } from './run.ts';

export interface MatrixReport {
  drills: number;
  passed: number;
  failed: { name: string; why: string }[];
  seconds: number;
  results: DrillResult[];
}

export async function runMatrix(
  cfg: Config,
  log: Logger,
  drills: (Drill & { settings?: Partial<DrillSettings> })[],
  opts: {
    linksProvider?: LinksProvider;
    keepState?: boolean;
    onResult?: (r: DrillResult) => void;
    /** Every drill on these two lab hosts (cfg: the lab's), one after another. */
    lab?: [LabHost, LabHost];
  } = {},
): Promise<MatrixReport> {
  const started = Date.now();
  const results: DrillResult[] = [];
  for (const [i, drill] of drills.entries()) {
    const r = await runDrill(cfg, log, drill, {
      slot: i % (DRILL_ADDRESS_COUNT / 2),
      ...(drill.settings ? { settings: drill.settings } : {}),
      ...(opts.linksProvider ? { linksProvider: opts.linksProvider } : {}),
      ...(opts.keepState ? { keepState: true } : {}),
      ...(opts.lab ? { lab: opts.lab } : {}),
    });
    results.push(r);
    opts.onResult?.(r);
  }
  return {
    drills: results.length,
    passed: results.filter((r) => r.passed).length,
    failed: results.filter((r) => !r.passed).map((r) => ({ name: r.name, why: r.why ?? 'unknown' })),
    seconds: Math.round((Date.now() - started) / 1000),
    results,
  };
}

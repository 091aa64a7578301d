// `npm run bench -- recovery [--json] [phase=perform] [repeat=1] [only=SUBSTRING]`: per fault, the
// time from the fault to the migration's end and to the cluster being clean (the drill's verdict
// passed: one host runs the VM, no stray guest, job or lease, the audit agrees with the live
// system), printed next to the settings that bound it. Each fault runs as its drill (drills/) at
// `phase`, `repeat` times; the medians are reported, with how long the fault lasted (down: from the
// kill until the process or service was back and ready).
import { z } from 'zod';
import { buildCatalog } from '../drills/catalog.ts';
import { DEFAULT_PROCESS_HEAL_MS } from '../drills/process-faults.ts';
import { runDrill, DEFAULT_DRILL_SETTINGS, type DrillResult } from '../drills/run.ts';
import { DEFAULT_SERVICE_HEAL_MS } from '../drills/service-faults.ts';
import { drillSources } from '../drills/sources.ts';
import { loadConfig } from '../infra/config.ts';
import { createLogger } from '../infra/logging/logger.ts';
import { stackUp } from '../infra/stack/stack.ts';
import { cancelledFinishGiveUpMs } from '../protocol/migration.ts';
import { DRILL_PHASES } from '../drills/fault.ts';
import { parseBenchOptions } from './options.ts';
import type { BenchContext, Figures } from './run.ts';

const OptionsSchema = z.object({
  phase: z.enum(DRILL_PHASES).default('perform'),
  repeat: z.coerce.number().int().min(1).max(20).default(1),
  only: z.string().min(1).optional(),
});

const s = DEFAULT_DRILL_SETTINGS;
/** The settings that bound each fault's recovery, as the drills run it. */
function boundOf(fault: string): string {
  const ttl = `autokill TTL ${s.autokillTtlMs / 1000} s`;
  if (fault === 'kill-destination-agent-never')
    return `cancelled Finish gives up after max(10 s, 4 × autokill TTL) = ${cancelledFinishGiveUpMs(s.autokillTtlMs) / 1000} s; stream break`;
  if (fault === 'kill-source-agent-never')
    return `Perform heartbeat timeout ${s.heartbeatTimeoutMs / 1000} s; ${ttl}; source restarted once the incoming guest is gone`;
  if (fault.startsWith('kill-source-agent'))
    return `heal ${DEFAULT_PROCESS_HEAL_MS / 1000} s + agent start; Perform heartbeat timeout ${s.heartbeatTimeoutMs / 1000} s`;
  if (fault.startsWith('kill-destination-agent'))
    return `heal ${DEFAULT_PROCESS_HEAL_MS / 1000} s + agent start; stream break; ${ttl}`;
  if (fault === 'kill-controller')
    return `heal ${DEFAULT_PROCESS_HEAL_MS / 1000} s + worker start (bundling); ${ttl}`;
  if (fault.startsWith('restart-'))
    return `heal ${DEFAULT_SERVICE_HEAL_MS / 1000} s + service start; client retry backoff`;
  return 'its own heal delay';
}

const median = (xs: number[]) => {
  const v = [...xs].sort((a, b) => a - b);
  return v.length === 0 ? null : v[Math.floor((v.length - 1) / 2)]!;
};
const secs = (ms: number | null) => (ms === null ? null : Math.round(ms / 100) / 10);

export default async function recoveryBench(ctx: BenchContext): Promise<Figures> {
  const options = parseBenchOptions('recovery', OptionsSchema, ctx.args);
  const cfg = loadConfig();
  await stackUp(cfg, () => undefined);
  const sources = await drillSources(cfg);
  const catalog = buildCatalog(sources.faults).filter(
    (d) => d.phase === options.phase && (!options.only || d.name.includes(options.only)),
  );
  const log = createLogger('bench-recovery', 'error');
  const rows: Record<string, number | string | null>[] = [];
  let slot = 0;
  for (const drill of catalog) {
    const runs: DrillResult[] = [];
    for (let i = 0; i < options.repeat; i++) {
      const r = await runDrill(cfg, log, drill, {
        slot: slot++ % 30,
        ...(sources.linksProvider ? { linksProvider: sources.linksProvider } : {}),
      });
      ctx.log(
        `${r.passed ? 'pass' : 'FAIL'} ${r.name}: end ${secs(r.faultToEndMs ?? null)} s, clean ${secs(r.faultToCleanMs ?? null)} s${r.why ? ` (${r.why})` : ''}`,
      );
      runs.push(r);
    }
    const passed = runs.filter((r) => r.passed);
    rows.push({
      fault: drill.fault.name,
      outcome: [...new Set(runs.map((r) => r.outcome ?? 'none'))].join('/'),
      passed: `${passed.length}/${runs.length}`,
      downS: secs(median(runs.flatMap((r) => (r.downMs === undefined ? [] : [r.downMs])))),
      faultToEndS: secs(median(runs.flatMap((r) => (r.faultToEndMs === undefined ? [] : [r.faultToEndMs])))),
      faultToCleanS: secs(
        median(passed.flatMap((r) => (r.faultToCleanMs === undefined ? [] : [r.faultToCleanMs]))),
      ),
      boundedBy: boundOf(drill.fault.name),
    });
  }
  ctx.log('');
  ctx.log(
    `| fault @${options.phase} | outcome | passed | down s | fault→end s | fault→clean s | bounded by |`,
  );
  ctx.log('| --- | --- | --- | --- | --- | --- | --- |');
  for (const r of rows) {
    ctx.log(
      `| ${r.fault} | ${r.outcome} | ${r.passed} | ${r.downS ?? '-'} | ${r.faultToEndS} | ${r.faultToCleanS} | ${r.boundedBy} |`,
    );
  }
  return {
    phase: options.phase,
    repeat: options.repeat,
    settings: {
      autokillTtlMs: s.autokillTtlMs,
      heartbeatTimeoutMs: s.heartbeatTimeoutMs,
      processHealMs: DEFAULT_PROCESS_HEAL_MS,
      serviceHealMs: DEFAULT_SERVICE_HEAL_MS,
      tunnelBandwidthMiBps: s.tunnelBandwidthMiBps,
      guestMiB: s.guest.memoryMiB,
      performAtBytes: s.performAtBytes,
    },
    rows,
  };
}

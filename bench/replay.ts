// `npm run bench -- replay [--json] [events=1000000]`: audit replay speed. Writes a log of at least
// a million realistic events (bench/replay-log.ts: many VMs migrating, as agents and controllers
// record them) to a topic of its own, times the full `ferry audit replay` of it (read, validate,
// dedupe, order, rebuild, check the invariants; in a child process, for its peak memory), and
// deletes the topic. Figures: eventsPerSecond, events, peakRssMiB.
import { execFile } from 'node:child_process';
import { loadavg } from 'node:os';
import { promisify } from 'node:util';
import { runnable } from '../infra/build/compiled.mjs';
import { loadConfig } from '../infra/config.ts';
import { createKafka } from '../infra/kafka/bus.ts';
import { grantOperatorScratch } from '../infra/kafka/cluster-setup.ts';
import { createLogger } from '../infra/logging/logger.ts';
import { stackUp } from '../infra/stack/stack.ts';
import { createTopic, deleteTopics } from '../lab/event-forge.ts';
import { uniqueName } from '../lab/stack.ts';
import { writeReplayLog } from './replay-log.ts';
import type { BenchContext, Figures } from './run.ts';

const DEFAULT_EVENTS = 1_000_000;
const WORKER = await runnable(import.meta.url, './replay-worker.ts');

interface WorkerFigures {
  events: number;
  seconds: number;
  cpuSeconds: number;
  peakRssMiB: number;
  migrations: number;
  outcomes: Record<string, number>;
  violations: number;
  firstViolation: string | null;
  deadLettered: number;
}

export default async function replayBench(ctx: BenchContext): Promise<Figures> {
  const atLeast = Number(
    ctx.args.find((a) => a.startsWith('events='))?.slice('events='.length) ?? DEFAULT_EVENTS,
  );
  const cfg = loadConfig();
  await stackUp(cfg, () => undefined);
  // Its topic is a scratch one the operator it runs as makes and drops (with security on, granted).
  await grantOperatorScratch(cfg, 'bench-');
  const kafka = createKafka(cfg, 'bench-replay', createLogger('bench-replay', 'error'));
  const topic = uniqueName('bench-replay');
  await createTopic(kafka, topic);
  try {
    ctx.log(`writing at least ${atLeast} events to ${topic}...`);
    const t0 = performance.now();
    const log = await writeReplayLog(kafka, topic, atLeast);
    const writeSeconds = (performance.now() - t0) / 1000;
    ctx.log(
      `  ${log.events} events, ${log.migrations} migrations (${log.outcomes.completed} completed, ` +
        `${log.outcomes.refused} refused, ${log.outcomes.aborted} aborted) in ${writeSeconds.toFixed(1)} s`,
    );
    ctx.log('audit replay of the whole topic (child process)...');
    const { stdout } = await promisify(execFile)(process.execPath, [WORKER, topic], {
      maxBuffer: 1 << 20,
      timeout: 30 * 60_000,
    });
    const w = JSON.parse(stdout.trim().split('\n').at(-1)!) as WorkerFigures;
    if (w.events !== log.events)
      throw new Error(`the audit read ${w.events} events of the ${log.events} written`);
    if (w.violations > 0)
      throw new Error(`the audit found ${w.violations} violations in a clean log: ${w.firstViolation}`);
    const eventsPerSecond = Math.round(w.events / w.seconds);
    ctx.log(
      `  ${w.events} events in ${w.seconds.toFixed(1)} s (${w.cpuSeconds.toFixed(1)} s of CPU): ${eventsPerSecond} events/s, peak RSS ${w.peakRssMiB} MiB, ` +
        `${w.migrations} migrations rebuilt, ${w.violations} violations`,
    );
    return {
      eventsPerSecond,
      events: w.events,
      peakRssMiB: w.peakRssMiB,
      replaySeconds: Number(w.seconds.toFixed(2)),
      replayCpuSeconds: Number(w.cpuSeconds.toFixed(2)),
      loadAverage: Number(loadavg()[0]!.toFixed(1)),
      migrations: w.migrations,
      violations: w.violations,
      writeSeconds: Number(writeSeconds.toFixed(1)),
    };
  } finally {
    await deleteTopics(kafka, [topic]);
  }
}

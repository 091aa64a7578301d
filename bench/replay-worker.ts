// The measured part of `npm run bench -- replay`, in a process of its own so that its peak
// memory is the audit's alone (not the log generator's): `node .build/KEY/bench/replay-worker.js
// TOPIC` runs the full audit replay of TOPIC (without the live comparison: the bench's VMs do not
// exist) and prints one JSON line of figures.
import { runAudit } from '../events/audit-run.ts';
import { loadConfig } from '../infra/config.ts';

const topic = process.argv[2];
if (!topic) throw new Error('usage: replay-worker.ts TOPIC');
const started = performance.now();
const cpu = process.cpuUsage();
// The bench's made-up events are unsigned: with security on they would each be an event-unsigned
// violation. What is measured is the read and the fold; checking an Ed25519 signature costs about
// 50-400 µs an event more on this machine (docs/events-and-audit.md, "Signed events").
const report = await runAudit(loadConfig(), { topic, live: false, requireSignatures: false });
const seconds = (performance.now() - started) / 1000;
// CPU time too: on a busy machine the wall time says as much about the neighbours as about the audit.
const used = process.cpuUsage(cpu);
const cpuSeconds = (used.user + used.system) / 1e6;
const outcomes: Record<string, number> = {};
for (const m of report.state.migrations.values()) {
  const o = m.ended?.outcome ?? 'no end';
  outcomes[o] = (outcomes[o] ?? 0) + 1;
}
console.log(
  JSON.stringify({
    events: report.events,
    seconds,
    cpuSeconds,
    // maxRSS is in KiB on Linux.
    peakRssMiB: Math.round(process.resourceUsage().maxRSS / 1024),
    migrations: report.state.migrations.size,
    outcomes,
    violations: report.violations.length,
    firstViolation: report.violations[0]?.message ?? null,
    deadLettered: report.rejected.length,
  }),
);

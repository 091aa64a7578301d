// `ferry audit replay [--since TIME] [--vm VM] [--json] [--histories]`: rebuilds the cluster from
// the event log, prints each migration's timeline, checks the invariants of docs/architecture.md
// and compares the rebuilt state with the live one; --histories also replays the stored workflow
// histories. Exit status: 0 all good, 3 invariants violated, 4 only the live state or a history
// differs.
import type { Command } from 'commander';
import { runAudit } from '../events/audit-run.ts';
import { replayMigrationHistories, type HistoryReplay } from '../events/history-replay.ts';
import { loadConfig, type Config } from '../infra/config.ts';
import { routeTemporalLogs } from '../infra/logging/libraries.ts';
import { createLogger } from '../infra/logging/logger.ts';
import { connectClient } from '../infra/temporal/connect.ts';
import { AuditOptionsSchema, type AuditOptions } from './audit-options.ts';
import { collectVms } from './log-options.ts';
import { auditJson, auditText } from './audit-print.ts';

export function registerAudit(program: Command): void {
  const audit = program
    .command('audit')
    .description('check the event log against the invariants (docs/architecture.md) and the live state');
  audit
    .command('replay')
    .description(
      'rebuild the cluster from the event log: timelines, invariant violations, differences with the live state',
    )
    .option('--since <time>', 'read from this time (ISO 8601) or age (30m, 2h, 7d)')
    .option('--vm <vm>', 'only this VM (repeat, or comma-separated)', collectVms)
    .option('--json', 'print one JSON object')
    .option('--histories', "also replay the stored 'migrate' workflow histories against today's code")
    .option('--no-live', 'do not compare with the live system (a log that is not this cluster’s)')
    .option('--topic <topic>', 'the event log topic (drills and benchmarks use their own)')
    .option('--dead-letter-topic <topic>', 'where messages that are not valid events go')
    .action(async (raw: Record<string, unknown>) => {
      const o = AuditOptionsSchema.parse({
        ...raw,
        vms: raw.vm,
        json: raw.json === true,
        histories: raw.histories === true,
      });
      const cfg = loadConfig();
      const report = await runAudit(cfg, {
        topic: o.topic,
        deadLetterTopic: o.deadLetterTopic,
        vms: o.vms,
        live: o.live,
        ...(o.since ? { since: o.since } : {}),
      });
      const ids = o.vms.length > 0 ? [...report.state.migrations.keys()] : undefined;
      const histories = o.histories ? await replayHistories(cfg, o, ids) : null;
      console.log(o.json ? JSON.stringify(auditJson(report, histories)) : auditText(report, histories));
      const historiesDiffer = (histories?.failures.length ?? 0) > 0;
      process.exitCode =
        report.violations.length > 0 ? 3 : report.matchesLive === false || historiesDiffer ? 4 : 0;
    });
}

async function replayHistories(
  cfg: Config,
  o: AuditOptions,
  ids: string[] | undefined,
): Promise<HistoryReplay> {
  // The replayer's own logs (bundling, each failing task) would drown the report: it says what failed.
  routeTemporalLogs(createLogger('ferry-audit', 'error', () => undefined));
  const client = await connectClient(cfg);
  try {
    return await replayMigrationHistories(client, {
      ...(ids ? { ids } : {}),
      ...(o.since ? { since: o.since } : {}),
    });
  } finally {
    await client.connection.close();
  }
}

// What `ferry audit replay` prints: the timelines, the violations with the events they cite, the
// differences with the live system, the history replay; or, with --json, one object.
import type { AuditReport } from '../events/audit-run.ts';
import type { HistoryReplay } from '../events/history-replay.ts';
import { cite } from '../events/refs.ts';
import { describeMigration, TIMELINE_LEGEND } from '../events/timeline-text.ts';

export function auditJson(r: AuditReport, histories: HistoryReplay | null): object {
  const migrations = [...r.state.migrations.values()];
  const outcomes: Record<string, number> = {};
  for (const m of migrations) {
    const o = m.ended?.outcome ?? 'no end';
    outcomes[o] = (outcomes[o] ?? 0) + 1;
  }
  return {
    events: r.events,
    migrations: migrations.length,
    violations: r.violations,
    matchesLive: r.matchesLive,
    differences: r.differences,
    outcomes,
    duplicates: r.duplicates,
    deadLettered: r.rejected.length,
    ...(histories ? { histories } : {}),
    notes: r.notes,
  };
}

export function auditText(r: AuditReport, histories: HistoryReplay | null): string {
  const out: string[] = [];
  const dead = r.rejected.length;
  out.push(
    `audit of ${r.topic}: ${r.events} events (${r.duplicates} duplicates dropped, ${dead} dead-lettered), ` +
      `${r.state.migrations.size} migrations, ${r.state.guests.size} VMs, ${r.state.hosts.size} hosts`,
  );
  for (const n of r.notes) out.push(`note: ${n}`);
  for (const rej of r.rejected.slice(0, 20)) {
    out.push(`dead-lettered ${rej.topic}/${rej.partition}@${rej.offset}: ${rej.reason}`);
  }
  if (dead > 20) out.push(`… and ${dead - 20} more dead-lettered`);

  const migrations = [...r.state.migrations.values()].sort((a, b) => (a.first.time < b.first.time ? -1 : 1));
  if (migrations.length > 0) {
    out.push('', `migrations (${migrations.length}):`);
    for (const m of migrations) out.push(...describeMigration(m));
    out.push(TIMELINE_LEGEND);
  }

  out.push('', r.violations.length === 0 ? 'violations: none' : `violations (${r.violations.length}):`);
  for (const v of r.violations) {
    out.push(`  ✗ invariant ${v.invariant} ${v.check}: ${v.message}`);
    for (const c of v.cites) out.push(`      ${cite(c)}`);
  }

  if (r.differences) {
    out.push(
      '',
      r.differences.length === 0
        ? 'live state: matches the log (placements, disk leases, hosts, jobs)'
        : `live state differs from the log (${r.differences.length}):`,
    );
    for (const d of r.differences) {
      out.push(`  ≠ ${d.what}: ${d.message}`);
      for (const c of d.cites) out.push(`      ${cite(c)}`);
    }
  } else {
    out.push('', 'live state: not compared (--no-live)');
  }

  if (histories) {
    out.push(
      '',
      histories.failures.length === 0
        ? `workflow histories: ${histories.replayed} 'migrate' histories replay with today's code`
        : `workflow histories: ${histories.failures.length} of ${histories.replayed} do not replay with today's code:`,
    );
    for (const f of histories.failures) out.push(`  ✗ ${f.workflowId} (run ${f.runId}): ${f.error}`);
  }
  return out.join('\n');
}

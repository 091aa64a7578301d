// A migration's timeline as an operator reads it at night: one header line (who, where, outcome,
// downtime, bytes, passes), one line per phase (start, host, result, duration, what the agent
// said), the QEMU statuses and the stream, and the first error.
import type { AgentPhase, MigrationView } from './migrations.ts';

export function describeMigration(m: MigrationView): string[] {
  const e = m.ended;
  const route = `${m.source ?? '?'} → ${m.destination ?? '?'}`;
  const outcome = e ? (e.aborted ? `${e.outcome} (aborted)` : e.outcome) : 'no end recorded';
  const figures = e
    ? [
        e.downtimeMs !== null ? `downtime ${e.downtimeMs} ms` : null,
        e.bytes !== null ? size(e.bytes) : null,
        e.passes !== null ? `${e.passes} passes` : null,
      ].filter(Boolean)
    : [];
  const lines = [
    `${m.id}  ${m.vm ?? '?'}  ${route}  ${day(m.first.time)}  ${outcome}${figures.length ? `: ${figures.join(', ')}` : ''}`,
  ];
  const used = new Set<AgentPhase>();
  const said = (name: string, mode: string) => {
    const p = m.phases.find((x) => !used.has(x) && x.phase === name && x.mode === mode);
    if (p) used.add(p);
    return p?.detail;
  };
  if (e) {
    for (const p of e.phases) {
      const took = p.endedAt ? `${Date.parse(p.endedAt) - Date.parse(p.startedAt)} ms` : '…';
      const agent = said(p.name, p.mode);
      const what = p.error ?? agent ?? '';
      lines.push(
        `  ${clock(p.startedAt)}  ${(p.name + (p.mode === 'cancelled' ? '*' : '')).padEnd(8)} ${p.host.padEnd(16)} ${p.result.padEnd(7)} ${took.padStart(8)}  ${what}`,
      );
    }
  }
  // What the agents said that the controller's timeline does not cover (recovery, no end yet).
  for (const p of [...m.phases].sort((a, b) => (a.time < b.time ? -1 : 1))) {
    if (used.has(p)) continue;
    const name = p.phase + (p.mode === 'cancelled' ? '*' : p.mode === 'recovery' ? '!' : '');
    lines.push(
      `  ${clock(p.time)}  ${name.padEnd(8)} ${p.host.padEnd(16)} ${'(agent)'.padEnd(7)} ${''.padStart(8)}  ${p.detail}`,
    );
  }
  const statuses = (['source', 'destination'] as const)
    .map((side) => {
      const seq = m.statuses
        .filter((s) => s.side === side)
        .sort((a, b) => (a.time < b.time ? -1 : 1))
        .map((s) => s.status + (s.error ? ` (${s.error})` : ''));
      return seq.length ? `${side} ${seq.join(' → ')}` : null;
    })
    .filter(Boolean);
  if (statuses.length) lines.push(`  qemu: ${statuses.join('; ')}`);
  if (m.sections.source + m.sections.destination > 0 || m.tunnels.length > 0) {
    const tunnels = m.tunnels
      .map((t) => `${t.side} ${t.outcome} ${size(t.bytes)}${t.error ? ` (${t.error})` : ''}`)
      .join('; ');
    lines.push(
      `  stream: ${m.sections.source} sections sent, ${m.sections.destination} received${m.passes ? `, ${m.passes} passes` : ''}${tunnels ? `; tunnel ${tunnels}` : ''}`,
    );
  }
  if (e) {
    const f = e.firstError;
    lines.push(`  first error: ${f ? `${f.phase} on ${f.host}: ${f.message} (${f.type})` : 'none'}`);
  }
  return lines;
}

/** Printed once under the timelines. */
export const TIMELINE_LEGEND = '(phase* ran as compensation; phase! was decided by a restarting agent)';

const clock = (iso: string) => iso.slice(11, 23);
const day = (iso: string) => `${iso.slice(0, 10)} ${iso.slice(11, 19)}Z`;

function size(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KiB`;
  return `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
}

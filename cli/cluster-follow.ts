// Following a drain or rebalance from the CLI until its report: in a terminal, an overall bar and
// one bar per migration in flight (each migrate workflow's `progress`); elsewhere, one line per
// guest as it ends, so a log of the night says what happened. Ctrl-C cancels the operation (what
// moved stays moved, migrations in flight roll back) and keeps following until it has wound down;
// a second Ctrl-C leaves it winding down on its own.
import type { Client } from '@temporalio/client';
import { clusterOpProgress } from '../workflows/cluster/messages.ts';
import type { ClusterOpProgress, ClusterOpReport, MoveView } from '../protocol/cluster.ts';
import { progress } from '../workflows/migration/messages.ts';
import type { ClusterOpHandle } from './cluster-client.ts';
import { MigrationBars, type BarLine } from './migration-bars.ts';

const POLL_MS = 500;

export async function followClusterOp(
  client: Client,
  handle: ClusterOpHandle,
  opts: { bars: boolean; lines: boolean; what: string },
): Promise<ClusterOpReport> {
  let done = false;
  const result = handle.result().finally(() => (done = true));
  let interrupts = 0;
  const onInterrupt = () => {
    interrupts++;
    if (interrupts === 1) {
      say(`\ncancelling ${opts.what}: no new migrations; those in flight roll back; what moved stays moved…`);
      void handle.cancel().catch(() => undefined);
    } else {
      say(`leaving ${opts.what} to wind down on its own (workflow ${handle.workflowId})`);
      process.exit(130);
    }
  };
  const bars = opts.bars
    ? new MigrationBars(process.stderr, {
        total: 1,
        format: ` ${opts.what} |{bar}| {moved} moved, {failed} not moved, {inFlight} in flight, {left} to go {state}`,
      })
    : undefined;
  const say = (line: string) => (bars ? bars.log(line) : process.stderr.write(line + '\n'));
  process.on('SIGINT', onInterrupt);
  const reported = new Set<string>();
  try {
    while (!done) {
      const view = await handle.query(clusterOpProgress).catch(() => undefined);
      if (view) {
        for (const m of view.guests) {
          if (isEnded(m) && !reported.has(m.vm)) {
            reported.add(m.vm);
            if (opts.lines || bars) say(describeMove(m));
          }
        }
        if (bars) {
          bars.setOverall(view.moved + view.failed, view.guests.length, overallPayload(view));
          bars.sync(await migrationLines(client, view.guests));
        }
      }
      await Promise.race([result.catch(() => undefined), new Promise((r) => setTimeout(r, POLL_MS))]);
    }
  } finally {
    process.off('SIGINT', onInterrupt);
    bars?.stop();
  }
  return result;
}

/** The bars' lines: each guest migrating now, with its migration's progress. */
export async function migrationLines(client: Client, guests: MoveView[]): Promise<Map<string, BarLine>> {
  const lines = new Map<string, BarLine>();
  await Promise.all(
    guests
      .filter((m) => m.state === 'migrating' && m.migrationId)
      .map(async (m) => {
        const p = await client.workflow
          .getHandle(m.migrationId!)
          .query(progress)
          .catch(() => null);
        lines.set(m.migrationId!, { label: `${m.vm} ${m.source} → ${m.to ?? '?'}`, progress: p });
      }),
  );
  return lines;
}

function overallPayload(view: ClusterOpProgress) {
  const inFlight = view.guests.filter((m) => m.state === 'migrating').length;
  return {
    moved: view.moved,
    failed: view.failed,
    inFlight,
    left: view.guests.filter((m) => m.state === 'pending' || m.state === 'waiting').length,
    state: view.state === 'running' ? '' : `(${view.state})`,
  };
}

const isEnded = (m: MoveView) => !['pending', 'waiting', 'migrating'].includes(m.state);

export function describeMove(m: {
  vm: string;
  state?: string;
  outcome?: string;
  to: string | null;
  attempts: MoveView['attempts'];
  reason: string | null;
}): string {
  const outcome = m.outcome ?? m.state;
  const last = m.attempts.at(-1);
  const tries =
    m.attempts.length > 1
      ? ` (attempt ${m.attempts.length}; first to ${m.attempts[0]!.to}: ${m.attempts[0]!.error?.message ?? 'rolled back'})`
      : '';
  switch (outcome) {
    case 'completed':
      return `${m.vm} → ${m.to}: moved${tries}`;
    case 'rolled-back':
      return `${m.vm}: rolled back, stays where it was — ${last?.error ? `${last.error.type}: ${last.error.message}` : (m.reason ?? '')}`;
    case 'failed':
      return `${m.vm}: FAILED, compensation incomplete — check it on ${m.to ?? '?'} and its source: ${last?.error?.message ?? m.reason ?? ''}`;
    case 'no-room':
      return `${m.vm}: not moved, ${m.reason ?? 'no host has room'}`;
    default:
      return `${m.vm}: not started (${m.reason ?? 'cancelled'})`;
  }
}

// Following a migration from the CLI: a progress bar fed by the workflow's `progress` query (the
// phase, and Perform's bytes as the source reports them), until the result.
import type { WorkflowHandle } from '@temporalio/client';
import { SingleBar } from 'cli-progress';
import type { migrate } from '../workflows/migrate.ts';
import { progress } from '../workflows/migration/messages.ts';
import type { MigrationReport } from '../protocol/migration.ts';

const POLL_MS = 250;

export async function followMigration(
  handle: WorkflowHandle<typeof migrate>,
  opts: { bars: boolean },
): Promise<MigrationReport> {
  const result = handle.result();
  if (!opts.bars) return result;
  const bar = new SingleBar({
    format: ' {phase} |{bar}| {percentage}% {sent}/{size} MiB, pass {passes}, {state}',
    hideCursor: true,
    stream: process.stderr,
  });
  bar.start(1, 0, { phase: 'begin', sent: 0, size: '?', passes: 0, state: 'running' });
  let done = false;
  void result.finally(() => (done = true)).catch(() => undefined);
  while (!done) {
    try {
      const p = await handle.query(progress);
      const t = p.transfer;
      const total = t ? t.transferred + t.remaining : 0;
      bar.setTotal(Math.max(1, total));
      bar.update(t?.transferred ?? 0, {
        phase: (p.phase ?? 'begin').padEnd(7),
        sent: t ? (t.transferred / 1048576).toFixed(1) : 0,
        size: t ? (total / 1048576).toFixed(1) : '?',
        passes: t?.passes ?? 0,
        state: p.state,
      });
    } catch {
      // a query can fail while the workflow completes; the result says the rest
    }
    await Promise.race([result.catch(() => undefined), new Promise((r) => setTimeout(r, POLL_MS))]);
  }
  bar.stop();
  return result;
}

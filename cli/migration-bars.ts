// Several migrations' progress bars at once (cli-progress MultiBar): one bar per migration in
// flight, fed by each migrate workflow's `progress` query, added as migrations start and removed as
// they end. Used by `ferry drain`, `ferry rebalance` and `ferry status`. The size is `{size}`, not
// `{total}`: cli-progress fills `{total}` with the bar's own total, which is in bytes.
import { MultiBar, Presets, type SingleBar } from 'cli-progress';
import type { MigrationProgressView } from '../protocol/migration.ts';

const MiB = 1024 * 1024;

export interface BarLine {
  /** What the bar is about, e.g. `vm-1 host-a → host-b`. */
  label: string;
  /** The migration's progress, once it answers its query. */
  progress: MigrationProgressView | null;
}

export class MigrationBars {
  private readonly multi: MultiBar;
  private readonly bars = new Map<string, SingleBar>();
  private readonly overall: SingleBar | undefined;

  constructor(
    private readonly stream: NodeJS.WriteStream = process.stderr,
    /** An overall bar above the migrations' (a drain's guests moved so far), if any. */
    overall?: { total: number; format: string },
  ) {
    this.multi = new MultiBar(
      {
        format: ' {label} {phase} |{bar}| {sent}/{size} MiB, pass {passes} {state}',
        hideCursor: true,
        clearOnComplete: false,
        stream,
        barsize: 24,
        autopadding: true,
      },
      Presets.shades_classic,
    );
    this.overall = overall
      ? this.multi.create(Math.max(1, overall.total), 0, {}, { format: overall.format })
      : undefined;
  }

  /** Updates the overall bar (its payload fills the format given at construction). */
  setOverall(value: number, total: number, payload: Record<string, unknown>): void {
    this.overall?.setTotal(Math.max(1, total));
    this.overall?.update(value, payload);
  }

  /** Shows exactly these migrations: new ones get a bar, ended ones lose theirs. */
  sync(lines: Map<string, BarLine>, labelWidth = 0): void {
    for (const [id, bar] of this.bars) {
      if (!lines.has(id)) {
        this.multi.remove(bar);
        this.bars.delete(id);
      }
    }
    const pad = Math.max(labelWidth, ...[...lines.values()].map((l) => l.label.length));
    for (const [id, line] of lines) {
      const t = line.progress?.transfer ?? null;
      const total = t ? t.transferred + t.remaining : 0;
      const payload = {
        label: line.label.padEnd(pad),
        phase: (line.progress?.phase ?? 'waiting').padEnd(7),
        sent: t ? (t.transferred / MiB).toFixed(1) : '0.0',
        size: t ? (total / MiB).toFixed(1) : '?',
        passes: t?.passes ?? 0,
        state: line.progress?.state ?? '',
      };
      let bar = this.bars.get(id);
      if (!bar) {
        bar = this.multi.create(1, 0, payload);
        this.bars.set(id, bar);
      }
      bar.setTotal(Math.max(1, total));
      bar.update(t?.transferred ?? 0, payload);
    }
  }

  /** A line above the bars (a migration that ended), without breaking them. */
  log(line: string): void {
    this.multi.log(line + '\n');
  }

  stop(): void {
    this.multi.stop();
  }
}

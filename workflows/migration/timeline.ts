// The migration's own record as it runs: the phases with their times and results, and the first
// error, which a later phase never overwrites (libvirt keeps Perform's error through Finish and
// Confirm). Pure; workflow time only.
import type { FirstError, PhaseRecord } from '../../protocol/migration.ts';
import type { PhaseName } from '../../protocol/phases.ts';

export class Timeline {
  readonly phases: PhaseRecord[] = [];
  firstError: FirstError | null = null;

  constructor(private readonly vm: string) {}

  start(name: PhaseName, host: string, mode: PhaseRecord['mode']): PhaseRecord {
    const record: PhaseRecord = {
      name,
      host,
      mode,
      startedAt: new Date().toISOString(),
      endedAt: null,
      result: 'running',
    };
    this.phases.push(record);
    return record;
  }

  end(record: PhaseRecord, error?: { type: string; message: string }): void {
    record.endedAt = new Date().toISOString();
    record.result = error ? 'failed' : 'ok';
    if (error) {
      record.error = error.message;
      this.fail(record.name, record.host, error);
    }
  }

  /** Keeps only the first error of the migration. */
  fail(phase: PhaseName, host: string, error: { type: string; message: string }): void {
    this.firstError ??= { phase, host, vm: this.vm, type: error.type, message: error.message };
  }

  current(): PhaseName | null {
    return this.phases.at(-1)?.name ?? null;
  }
}

// Waits that a migration can abandon: a cancel or a stream error rejects whatever the migration
// is waiting for (a rate-limit pause, a drain, the destination's ack, migrate-continue) at once.
export class Aborter {
  private readonly controller = new AbortController();

  get aborted(): boolean {
    return this.controller.signal.aborted;
  }

  /** The first reason wins, as QEMU keeps the first error. */
  abort(reason: Error): void {
    if (!this.aborted) this.controller.abort(reason);
  }

  /** Throws the abort reason if aborted. */
  check(): void {
    if (this.aborted) throw this.controller.signal.reason as Error;
  }

  /** `p`, or a rejection with the abort reason as soon as the migration is abandoned. */
  async guard<T>(p: Promise<T>): Promise<T> {
    const signal = this.controller.signal;
    this.check();
    let onAbort: () => void = () => undefined;
    const aborted = new Promise<never>((_, reject) => {
      onAbort = () => reject(signal.reason as Error);
      signal.addEventListener('abort', onAbort, { once: true });
    });
    try {
      return await Promise.race([p, aborted]);
    } finally {
      signal.removeEventListener('abort', onAbort);
    }
  }
}

/** The reason of a migration abandoned by migrate_cancel (not an error). */
export class MigrationCancelled extends Error {
  constructor() {
    super('migration cancelled');
  }
}

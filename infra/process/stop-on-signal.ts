// A long-lived ferry process (agent, controller) stops once on SIGTERM or SIGINT: it runs its own
// orderly stop, then exits 0, or 1 with one log line if the stop failed.
import type { Logger } from '../logging/logger.ts';

export function stopOnSignal(log: Logger, stop: () => Promise<void>): void {
  let stopping = false;
  const onSignal = () => {
    if (stopping) return;
    stopping = true;
    log.info('stopping on signal');
    stop().then(
      () => process.exit(0),
      (err: unknown) => {
        log.error('stop failed', { error: err instanceof Error ? err.message : String(err) });
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', onSignal);
  process.on('SIGINT', onSignal);
}

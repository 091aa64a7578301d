// Routes the libraries' own logs (Temporal's SDK runtime, kafkajs) into ferry's logger, so an
// operator reads one format, and keeps their chatter (worker state changes, retried coordinator
// look-ups) below the level that matters.
import { DefaultLogger, Runtime, type LogLevel as TemporalLevel } from '@temporalio/worker';
import { logLevel as KafkaLevel, type logCreator } from 'kafkajs';
import type { Logger } from './logger.ts';

let runtimeInstalled = false;

/** Installs Temporal's runtime logger once per process (Runtime.install may only run once). */
export function routeTemporalLogs(logger: Logger): void {
  if (runtimeInstalled) return;
  runtimeInstalled = true;
  const log = logger.child('temporal');
  Runtime.install({
    // Not forwarding the core's own (Rust) logs: with forwarding on, the runtime's log polling kept
    // a process alive after a test whose Temporal server restarted (test/stack-temporal hung).
    logger: new DefaultLogger(
      'WARN',
      (entry: { level: TemporalLevel; message: string; meta?: Record<string, unknown> }) => {
        const level = entry.level === 'ERROR' ? 'error' : 'warn';
        log[level](entry.message, entry.meta);
      },
    ),
  });
}

/** Errors that are part of normal group and leader churn, which kafkajs retries by itself. */
const RETRIED_BY_KAFKAJS =
  /coordinator is not available|not the correct coordinator|coordinator is loading|group is rebalancing|leader/i;

/** A kafkajs logCreator writing through ferry's logger; errors kafkajs itself retries become warnings. */
export function kafkaLogCreator(logger: Logger): logCreator {
  const log = logger.child('kafka');
  return () =>
    ({ level, log: entry }) => {
      const { message, ...rest } = entry;
      // Bounded retries are deliberate (see createProducer): duplicates are dropped by event id.
      if (message.startsWith('Limiting retries for the idempotent producer')) return;
      const context: Record<string, unknown> = {
        broker: rest.broker as unknown,
        error: rest.error as unknown,
      };
      if (level === KafkaLevel.ERROR && !RETRIED_BY_KAFKAJS.test(String(rest.error))) {
        log.error(message, context);
      } else if (level <= KafkaLevel.WARN) {
        log.warn(message, context);
      }
    };
}

// QEMU-to-QEMU migration over a unix socket, with no agent in between: the direct baseline the
// tunnelled data plane is measured against, and what the QEMU guest tests drive.
import { setTimeout as sleep } from 'node:timers/promises';
import type { QmpClient } from '../../qmp/client.ts';
import type { MigrationInfo } from '../../qmp/schema.ts';
import { QemuMigrationError } from './errors.ts';

export const DEFAULT_MIGRATION_TIMEOUT_MS = 120_000;
const POLL_MS = 50;

export interface WaitOptions {
  timeoutMs?: number;
  /** Called with every query-migrate answer while the migration runs. */
  onPoll?: (info: MigrationInfo) => void | Promise<void>;
}

export interface PollOptions extends WaitOptions {
  /** Between two query-migrate (default 50 ms). */
  intervalMs?: number;
}

/**
 * The one query-migrate poller for a guest's QMP (QEMU or the emulated guest): asks until
 * `until(info)` holds and returns that answer; past the timeout, throws naming the status it is
 * stuck in. The agent's Perform has its own loop, woken by QEMU's MIGRATION events between polls.
 */
export async function pollMigration(
  qmp: QmpClient,
  until: (info: MigrationInfo) => boolean,
  options: PollOptions = {},
): Promise<MigrationInfo> {
  const timeoutMs = options.timeoutMs ?? DEFAULT_MIGRATION_TIMEOUT_MS;
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const info = await qmp.execute('query-migrate');
    await options.onPoll?.(info);
    if (until(info)) return info;
    if (Date.now() > deadline) {
      const status = info.status ?? 'none';
      throw new QemuMigrationError(status, `migration still '${status}' after ${timeoutMs} ms`);
    }
    await sleep(options.intervalMs ?? POLL_MS);
  }
}

/** A migration that has ended, well or not. */
export const migrationEnded = (info: MigrationInfo): boolean =>
  info.status === 'completed' || info.status === 'failed' || info.status === 'cancelled';

/** Polls the source's query-migrate until completed; failed or cancelled throw. */
export async function waitForMigration(source: QmpClient, options: WaitOptions = {}): Promise<MigrationInfo> {
  const info = await pollMigration(source, migrationEnded, options);
  const status = info.status ?? 'none';
  if (status !== 'completed') {
    throw new QemuMigrationError(status, `migration ${status}: ${info['error-desc'] ?? 'no reason given'}`);
  }
  return info;
}

/**
 * Waits until an incoming guest has loaded the whole stream: its run state leaves 'inmigrate'
 * (to 'paused' when started with -S, else 'running'). The source says completed a little
 * before the destination has read the last bytes.
 */
export async function waitForIncoming(destination: QmpClient, timeoutMs = 30_000): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const { status } = await destination.execute('query-status');
    if (status !== 'inmigrate') return status;
    if (Date.now() > deadline) {
      throw new QemuMigrationError(status, `destination still 'inmigrate' after ${timeoutMs} ms`);
    }
    await sleep(POLL_MS);
  }
}

export interface DirectMigration {
  /** unix socket the destination listens on (migrate-incoming). */
  socket: string;
  /** migrate-set-parameters for the source, e.g. { 'max-bandwidth': 64 << 20 }. */
  parameters?: Record<string, number | string | boolean>;
}

/** Starts a migration from `source` into `destination` (started with -incoming defer). */
export async function startDirectMigration(
  source: QmpClient,
  destination: QmpClient,
  migration: DirectMigration,
): Promise<void> {
  const uri = `unix:${migration.socket}`;
  // The destination listens before the source connects, as in libvirt's Prepare then Perform.
  await destination.execute('migrate-incoming', { uri });
  if (migration.parameters) await source.execute('migrate-set-parameters', migration.parameters);
  await source.execute('migrate', { uri });
}

/** Migrates and waits for both ends: the source's final statistics, destination loaded. */
export async function migrateDirect(
  source: QmpClient,
  destination: QmpClient,
  migration: DirectMigration,
  options: WaitOptions = {},
): Promise<MigrationInfo> {
  await startDirectMigration(source, destination, migration);
  const info = await waitForMigration(source, options);
  await waitForIncoming(destination);
  return info;
}

// Emulated guests for tests: started as the agent starts them (emulatedGuestCommand, detached,
// stderr to a log file), reached over QMP, killed by pid. Each guest gets its own temp directory.
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { openSync, closeSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { QmpClient } from '../../hosts/qmp/client.ts';
import type { MigrationInfo, QmpEvent } from '../../hosts/qmp/schema.ts';
import { emulatedGuestCommand } from '../../hosts/guest-sim/launch.ts';
import type { EmulatedGuestSpec } from '../../hosts/guest-sim/spec.ts';
import { migrationEnded, pollMigration } from '../../hosts/guests/qemu/migration.ts';

export interface TestGuest {
  readonly pid: number;
  readonly dir: string;
  readonly qmp: QmpClient;
  /** Every QMP event received since the start, in order. */
  readonly events: QmpEvent[];
  /** Resolves with the exit code (or signal name) when the process ends. */
  readonly exited: Promise<number | string>;
  readonly log: () => string;
  /** A path in this guest's directory (for migration sockets). */
  path(name: string): string;
  /** SIGKILL by pid if still alive, close QMP, remove the directory. */
  stop(): Promise<void>;
}

export async function startGuest(
  spec: Omit<EmulatedGuestSpec, 'qmpSocket' | 'name'> & { name?: string },
): Promise<TestGuest> {
  const dir = await mkdtemp(join(tmpdir(), 'ferry-gsim-'));
  const logFile = join(dir, 'guest.log');
  const fd = openSync(logFile, 'a');
  const { command, args } = emulatedGuestCommand({
    name: spec.name ?? 'vm1',
    ...spec,
    qmpSocket: join(dir, 'qmp.sock'),
  });
  const child: ChildProcess = spawn(command, args, { detached: true, stdio: ['ignore', 'ignore', fd] });
  closeSync(fd);
  const exited = new Promise<number | string>((resolve) =>
    child.once('exit', (code, signal) => resolve(code ?? signal ?? -1)),
  );
  let alive = true;
  void exited.then(() => (alive = false));
  const pid = child.pid!;
  const kill = async (): Promise<void> => {
    if (alive) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // gone already
      }
      await exited;
    }
  };
  let qmp: QmpClient;
  try {
    qmp = await QmpClient.connect(join(dir, 'qmp.sock'), 15_000);
  } catch (err) {
    await kill();
    throw new Error(
      `emulated guest did not come up: ${(err as Error).message}\n${readFileSync(logFile, 'utf8')}`,
    );
  }
  const events: QmpEvent[] = [];
  qmp.onEvent((e) => events.push(e));
  return {
    pid,
    dir,
    qmp,
    events,
    exited,
    log: () => readFileSync(logFile, 'utf8'),
    path: (name) => join(dir, name),
    stop: async () => {
      qmp.close();
      await kill();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** Polls query-migrate until `done(info)` or the timeout (hosts/guests/qemu/migration.ts's poller). */
export function waitMigration(
  guest: TestGuest,
  done: (info: MigrationInfo) => boolean,
  timeoutMs = 30_000,
): Promise<MigrationInfo> {
  return pollMigration(guest.qmp, done, { timeoutMs, intervalMs: 20 });
}

export const finished = migrationEnded;

/** Turns on the capabilities on a guest (events always, so MIGRATION/MIGRATION_PASS arrive). */
export async function setCaps(guest: TestGuest, caps: string[]): Promise<void> {
  await guest.qmp.execute('migrate-set-capabilities', {
    capabilities: ['events', ...caps].map((capability) => ({ capability, state: true })),
  });
}

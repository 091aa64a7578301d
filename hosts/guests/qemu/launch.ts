// Runs a QEMU guest as a child of this process and connects to its QMP socket: for tests and
// benchmarks. (The agent spawns detached and keeps a pid file instead; it uses qemuGuestCommand.)
import { spawn } from 'node:child_process';
import { QmpClient } from '../../qmp/client.ts';
import { guestEnvironment } from '../environment.ts';
import { qemuGuestCommand } from './command.ts';
import { QemuGuestExitedError } from './errors.ts';
import { checkQemuGuestSpec } from './spec.ts';
import type { QemuGuestSpec } from './spec.ts';

export interface LaunchedQemuGuest {
  readonly pid: number;
  readonly qmp: QmpClient;
  /** Resolves when QEMU exits, with its exit code or the signal that ended it. */
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** What QEMU wrote to stderr so far. */
  stderr(): string;
  /** SIGKILL by pid (if still alive) and waits for the exit. */
  kill(): Promise<void>;
}

export async function launchQemuGuest(
  spec: QemuGuestSpec,
  connectTimeoutMs = 15_000,
): Promise<LaunchedQemuGuest> {
  const s = checkQemuGuestSpec(spec);
  const { command, args } = qemuGuestCommand(s);
  const child = spawn(command, args, { env: guestEnvironment(), stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => resolve({ code, signal })),
  );
  const spawnFailed = new Promise<never>((_, reject) =>
    child.once('error', (err) =>
      reject(new QemuGuestExitedError(`${command}: ${err.message}`, { cause: err })),
    ),
  );
  const kill = async (): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null && child.pid !== undefined) {
      process.kill(child.pid, 'SIGKILL');
      await exited;
    }
  };
  try {
    const qmp = await Promise.race([
      QmpClient.connect(s.qmpSocket, connectTimeoutMs),
      spawnFailed,
      exited.then(({ code, signal }) => {
        throw new QemuGuestExitedError(
          `QEMU for ${s.vm} exited (${signal ?? code}) at start: ${stderr.trim()}`,
        );
      }),
    ]);
    return {
      pid: child.pid!,
      qmp,
      exited,
      stderr: () => stderr,
      kill: async () => {
        qmp.close();
        await kill();
      },
    };
  } catch (err) {
    await kill();
    throw err;
  }
}

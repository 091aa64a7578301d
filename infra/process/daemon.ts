// Starting and stopping the long-lived service processes ferry owns. Each is started detached,
// in its own session, with its output in a log file, so it outlives the command that started it.
import { spawn } from 'node:child_process';
import { closeSync, openSync, rmSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { isSameProcessAlive, PID_FILE_MODE, writePidFile, type PidRecord } from './pid-file.ts';

export interface DaemonSpec {
  command: string;
  args: string[];
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  logPath: string;
  pidPath: string;
}

export function startDaemon(spec: DaemonSpec): PidRecord {
  const log = openSync(spec.logPath, 'a', PID_FILE_MODE);
  try {
    const child = spawn(spec.command, spec.args, {
      cwd: spec.cwd,
      env: spec.env ?? process.env,
      detached: true,
      stdio: ['ignore', log, log],
    });
    // A spawn failure (ENOENT) is also emitted as 'error' later: unheard, it would kill this process.
    child.on('error', () => undefined);
    if (child.pid === undefined) throw new Error(`could not start ${spec.command}`);
    child.unref();
    return writePidFile(spec.pidPath, child.pid, [spec.command, ...spec.args].join(' '));
  } finally {
    closeSync(log);
  }
}

/**
 * Stops the process a pid record names (never anything found by name): SIGTERM, then SIGKILL
 * after `graceMs`. Returns how it ended.
 */
export async function stopDaemon(
  record: PidRecord,
  pidPath: string,
  graceMs = 20_000,
): Promise<'stopped' | 'killed' | 'gone'> {
  if (!isSameProcessAlive(record)) {
    rmSync(pidPath, { force: true });
    return 'gone';
  }
  process.kill(record.pid, 'SIGTERM');
  const deadline = Date.now() + graceMs;
  while (Date.now() < deadline) {
    if (!isSameProcessAlive(record)) {
      rmSync(pidPath, { force: true });
      return 'stopped';
    }
    await sleep(100);
  }
  process.kill(record.pid, 'SIGKILL');
  while (isSameProcessAlive(record)) await sleep(50);
  rmSync(pidPath, { force: true });
  return 'killed';
}

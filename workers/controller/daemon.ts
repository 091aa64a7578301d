// Starting and stopping the detached controller, by its pid file. `ferry migrate` starts one when
// none runs, as `ferry stack up` starts the services: a migration needs a controller to exist.
import { existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { FerryError } from '../../errors/ferry-error.ts';
import { runnable } from '../../infra/build/compiled.mjs';
import type { Config } from '../../infra/config.ts';
import { startDaemon, stopDaemon } from '../../infra/process/daemon.ts';
import { tailFile } from '../../infra/process/log-tail.ts';
import { isSameProcessAlive, readLivePidFile, type PidRecord } from '../../infra/process/pid-file.ts';
import { controllerFiles, DEFAULT_CONTROLLER_NAME } from './files.ts';
import { CONTROL_TASK_QUEUE, TaskQueueSchema } from './queue.ts';

export class ControllerError extends FerryError {
  readonly code = 'CONTROLLER_FAILED';
}

const MAIN = await runnable(import.meta.url, './main.ts');

/** The live controller of `taskQueue` (default: the operator's), by its pid file. */
export function controllerPid(cfg: Config, taskQueue: string = CONTROL_TASK_QUEUE): PidRecord | undefined {
  return readLivePidFile(controllerFiles(cfg, taskQueue).pid);
}

/**
 * Starts the controller of `taskQueue` (default: the operator's) unless one runs; waits until its
 * worker polls.
 */
export async function ensureController(
  cfg: Config,
  taskQueue: string = CONTROL_TASK_QUEUE,
  name: string = DEFAULT_CONTROLLER_NAME,
): Promise<{ pid: number; started: boolean; log: string }> {
  TaskQueueSchema.parse(taskQueue);
  const files = controllerFiles(cfg, taskQueue);
  const running = controllerPid(cfg, taskQueue);
  if (running) return { pid: running.pid, started: false, log: files.log };
  mkdirSync(files.dir, { recursive: true });
  rmSync(files.ready, { force: true });
  const record = startDaemon({
    command: process.execPath,
    args: [
      MAIN,
      ...(taskQueue === CONTROL_TASK_QUEUE ? [] : ['--task-queue', taskQueue]),
      ...(name === DEFAULT_CONTROLLER_NAME ? [] : ['--name', name]),
    ],
    logPath: files.log,
    pidPath: files.pid,
  });
  const deadline = Date.now() + 90_000;
  while (!(existsSync(files.ready) && readFileSync(files.ready, 'utf8') === String(record.pid))) {
    if (!isSameProcessAlive(record) || Date.now() > deadline) {
      throw new ControllerError(
        `the controller did not come up: ${tailFile(files.log, 1) || '(empty log)'}`,
        {
          hint: `read ${files.log}; is the stack up (\`ferry stack status\`)?`,
        },
      );
    }
    await sleep(100);
  }
  return { pid: record.pid, started: true, log: files.log };
}

/** Stops the controller of `taskQueue` by its pid file: how it ended, and its pid (null: none ran). */
export async function stopController(
  cfg: Config,
  taskQueue: string = CONTROL_TASK_QUEUE,
): Promise<{ outcome: 'stopped' | 'killed' | 'gone' | 'not running'; pid: number | null }> {
  const files = controllerFiles(cfg, taskQueue);
  const running = controllerPid(cfg, taskQueue);
  if (!running) return { outcome: 'not running', pid: null };
  const outcome = await stopDaemon(running, files.pid);
  rmSync(files.ready, { force: true });
  return { outcome, pid: running.pid };
}

// `ferry controller start|stop|status [--task-queue QUEUE] [--name NAME]`: the worker that runs migration
// workflows. `ferry migrate` starts one itself when none runs. `--task-queue` names another
// controller (a drill's own, `drill-…`), e.g. to stop one a killed drill left behind. Each prints
// one JSON object with `--json`.
import type { Command } from 'commander';
import { controllerPid, ensureController, stopController } from '../workers/controller/daemon.ts';
import { controllerFiles, DEFAULT_CONTROLLER_NAME } from '../workers/controller/files.ts';
import { z } from 'zod';
import { IDENTITY_NAME } from '../infra/pki/index.ts';
import { CONTROL_TASK_QUEUE, TaskQueueSchema } from '../workers/controller/queue.ts';
import { loadConfig } from '../infra/config.ts';
import { jsonFlag, printResult } from './output.ts';

const ControllerName = z
  .string()
  .regex(IDENTITY_NAME, 'controller names are lower-case letters, digits and -, at most 31 characters');

const QUEUE_OPTION = ['--task-queue <queue>', "the controller's task queue", CONTROL_TASK_QUEUE] as const;

export function registerController(program: Command): void {
  const controller = program.command('controller').description('the worker that runs migration workflows');
  controller
    .command('start')
    .description('start the controller in the background (nothing happens if one runs)')
    .option(...QUEUE_OPTION)
    .option(
      '--name <name>',
      "the controller's identity, one per operator machine (its certificate, its events' publisher name)",
      DEFAULT_CONTROLLER_NAME,
    )
    .option(...jsonFlag('{"taskQueue", "pid", "started", "log"}'))
    .action(async (opts: { taskQueue: string; name: string; json?: boolean }) => {
      const taskQueue = TaskQueueSchema.parse(opts.taskQueue);
      const name = ControllerName.parse(opts.name);
      const c = await ensureController(loadConfig(), taskQueue, name);
      printResult(
        opts.json,
        { taskQueue, ...c },
        () => `controller ${c.started ? 'started' : 'already runs'}: pid ${c.pid}, log ${c.log}`,
      );
    });
  controller
    .command('stop')
    .description(
      'stop the controller this state dir started (by its pid file); migrations resume when one runs again',
    )
    .option(...QUEUE_OPTION)
    .option(...jsonFlag('{"taskQueue", "pid", "outcome": "stopped" | "killed" | "gone" | "not running"}'))
    .action(async (opts: { taskQueue: string; json?: boolean }) => {
      const taskQueue = TaskQueueSchema.parse(opts.taskQueue);
      const r = await stopController(loadConfig(), taskQueue);
      printResult(opts.json, { taskQueue, ...r }, () =>
        r.pid === null ? 'controller not running' : `controller ${r.outcome} (pid ${r.pid})`,
      );
    });
  controller
    .command('status')
    .description('whether the controller runs, by its pid file')
    .option(...QUEUE_OPTION)
    .option(...jsonFlag('{"taskQueue", "running", "pid", "log"}'))
    .action((opts: { taskQueue: string; json?: boolean }) => {
      const cfg = loadConfig();
      const queue = TaskQueueSchema.parse(opts.taskQueue);
      const pid = controllerPid(cfg, queue);
      const log = controllerFiles(cfg, queue).log;
      printResult(
        opts.json,
        { taskQueue: queue, running: pid !== undefined, pid: pid?.pid ?? null, log },
        () =>
          pid ? `controller ${queue} runs: pid ${pid.pid}, log ${log}` : `controller ${queue} not running`,
      );
    });
}

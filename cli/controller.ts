// `ferry controller start|stop|status [--task-queue QUEUE]`: the worker that runs migration
// workflows. `ferry migrate` starts one itself when none runs. `--task-queue` names another
// controller (a drill's own, `drill-…`), e.g. to stop one a killed drill left behind.
import type { Command } from 'commander';
import { controllerPid, ensureController, stopController } from '../workers/controller/daemon.ts';
import { controllerFiles } from '../workers/controller/files.ts';
import { CONTROL_TASK_QUEUE, TaskQueueSchema } from '../workers/controller/queue.ts';
import { loadConfig } from '../infra/config.ts';

const QUEUE_OPTION = ['--task-queue <queue>', "the controller's task queue", CONTROL_TASK_QUEUE] as const;

export function registerController(program: Command): void {
  const controller = program.command('controller').description('the worker that runs migration workflows');
  controller
    .command('start')
    .description('start the controller in the background (nothing happens if one runs)')
    .option(...QUEUE_OPTION)
    .action(async (opts: { taskQueue: string }) => {
      const c = await ensureController(loadConfig(), TaskQueueSchema.parse(opts.taskQueue));
      console.log(`controller ${c.started ? 'started' : 'already runs'}: pid ${c.pid}, log ${c.log}`);
    });
  controller
    .command('stop')
    .description(
      'stop the controller this state dir started (by its pid file); migrations resume when one runs again',
    )
    .option(...QUEUE_OPTION)
    .action(async (opts: { taskQueue: string }) => {
      console.log(`controller ${await stopController(loadConfig(), TaskQueueSchema.parse(opts.taskQueue))}`);
    });
  controller
    .command('status')
    .option(...QUEUE_OPTION)
    .action((opts: { taskQueue: string }) => {
      const cfg = loadConfig();
      const queue = TaskQueueSchema.parse(opts.taskQueue);
      const pid = controllerPid(cfg, queue);
      console.log(
        pid
          ? `controller ${queue} runs: pid ${pid.pid}, log ${controllerFiles(cfg, queue).log}`
          : `controller ${queue} not running`,
      );
    });
}

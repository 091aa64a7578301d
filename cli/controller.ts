// `ferry controller start|stop|status`: the worker that runs migration workflows. `ferry migrate`
// starts one itself when none runs.
import type { Command } from 'commander';
import { controllerPid, ensureController, stopController } from '../controller/daemon.ts';
import { controllerFiles } from '../controller/files.ts';
import { loadConfig } from '../infra/config.ts';

export function registerController(program: Command): void {
  const controller = program.command('controller').description('the worker that runs migration workflows');
  controller
    .command('start')
    .description('start the controller in the background (nothing happens if one runs)')
    .action(async () => {
      const c = await ensureController(loadConfig());
      console.log(`controller ${c.started ? 'started' : 'already runs'}: pid ${c.pid}, log ${c.log}`);
    });
  controller
    .command('stop')
    .description(
      'stop the controller this state dir started (by its pid file); migrations resume when one runs again',
    )
    .action(async () => {
      console.log(`controller ${await stopController(loadConfig())}`);
    });
  controller.command('status').action(() => {
    const cfg = loadConfig();
    const pid = controllerPid(cfg);
    console.log(
      pid ? `controller runs: pid ${pid.pid}, log ${controllerFiles(cfg).log}` : 'controller not running',
    );
  });
}

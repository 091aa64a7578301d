// The controller process: `ferry controller start --detach` runs it in the background; it writes
// a ready file once its worker polls, so the command that started it knows when to go on.
// `--task-queue Q` runs it on another queue than the default (a drill's own controller).
import { rmSync, writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { z } from 'zod';
import { reportAndExit } from '../../errors/report.ts';
import { loadConfig } from '../../infra/config.ts';
import { createLogger } from '../../infra/logging/logger.ts';
import { stopOnSignal } from '../../infra/process/stop-on-signal.ts';
import { usePrivateUmask } from '../../infra/process/private-umask.ts';
import { Controller } from './controller.ts';
import { IDENTITY_NAME, useIdentity } from '../../infra/pki/index.ts';
import { controllerFiles, DEFAULT_CONTROLLER_NAME } from './files.ts';
import { CONTROL_TASK_QUEUE, TaskQueueSchema } from './queue.ts';

// Its outbox, pid and ready files are this user's only (0700 / 0600), however it was started.
usePrivateUmask();
try {
  const { values } = parseArgs({
    options: { 'task-queue': { type: 'string' }, name: { type: 'string' } },
  });
  const taskQueue = TaskQueueSchema.default(CONTROL_TASK_QUEUE).parse(values['task-queue']);
  // Each controller (one per operator machine) has an identity of its own.
  useIdentity(
    'controller',
    z
      .string()
      .regex(IDENTITY_NAME, 'controller names are lower-case letters, digits and -')
      .default(DEFAULT_CONTROLLER_NAME)
      .parse(values.name),
  );
  const cfg = loadConfig();
  const log = createLogger('controller');
  const files = controllerFiles(cfg, taskQueue);
  const controller = await Controller.start(cfg, log, taskQueue);
  writeFileSync(files.ready, String(process.pid));
  stopOnSignal(log, async () => {
    rmSync(files.ready, { force: true });
    await controller.stop();
  });
} catch (err) {
  reportAndExit(err);
}

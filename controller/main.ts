// The controller process: `ferry controller start --detach` runs it in the background; it writes
// a ready file once its worker polls, so the command that started it knows when to go on.
import { rmSync, writeFileSync } from 'node:fs';
import { reportAndExit } from '../cli/fail.ts';
import { loadConfig } from '../infra/config.ts';
import { createLogger } from '../infra/logging/logger.ts';
import { stopOnSignal } from '../infra/process/stop-on-signal.ts';
import { Controller } from './controller.ts';
import { controllerFiles } from './files.ts';

try {
  const cfg = loadConfig();
  const log = createLogger('controller');
  const files = controllerFiles(cfg);
  const controller = await Controller.start(cfg, log);
  writeFileSync(files.ready, String(process.pid));
  stopOnSignal(log, async () => {
    rmSync(files.ready, { force: true });
    await controller.stop();
  });
} catch (err) {
  reportAndExit(err);
}

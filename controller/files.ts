import { join } from 'node:path';
import type { Config } from '../infra/config.ts';

export function controllerFiles(cfg: Config) {
  const dir = join(cfg.stateDir, 'controller');
  return {
    dir,
    pid: join(dir, 'controller.pid'),
    log: join(dir, 'controller.log'),
    ready: join(dir, 'controller.ready'),
  };
}

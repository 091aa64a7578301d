import { join } from 'node:path';
import type { Config } from '../../infra/config.ts';
import { CONTROL_TASK_QUEUE } from './queue.ts';

/**
 * The files of the detached controller of `taskQueue`: the default queue's under
 * `STATE/controller/`, any other queue's (a drill's own controller) under `STATE/controller/<queue>/`,
 * so a drill can kill and restart its controller without touching the operator's.
 */
export function controllerFiles(cfg: Config, taskQueue: string = CONTROL_TASK_QUEUE) {
  const base = join(cfg.stateDir, 'controller');
  const dir = taskQueue === CONTROL_TASK_QUEUE ? base : join(base, taskQueue);
  return {
    dir,
    pid: join(dir, 'controller.pid'),
    log: join(dir, 'controller.log'),
    ready: join(dir, 'controller.ready'),
  };
}

/** The controller's event outbox (its migration.ended events wait there until Kafka has them). */
export function controllerOutbox(cfg: Config, taskQueue: string = CONTROL_TASK_QUEUE) {
  const name = taskQueue === CONTROL_TASK_QUEUE ? 'controller' : `controller-${taskQueue}`;
  return { name, dir: join(cfg.stateDir, 'controller', name) };
}

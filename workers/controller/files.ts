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

/** The name of a controller that was given none: the identity `ferry controller start` runs as. */
export const DEFAULT_CONTROLLER_NAME = 'controller';

/**
 * The controller's event outbox (its migration.ended events wait there until Kafka has them). Its
 * name is the publisher name of those events, so two controllers (one per operator machine, each
 * with an identity of its own) never write events under one name: their sequences would collide
 * in the audit. The default controller keeps the name `controller`.
 */
export function controllerOutbox(
  cfg: Config,
  taskQueue: string = CONTROL_TASK_QUEUE,
  identity: string = DEFAULT_CONTROLLER_NAME,
) {
  const base = identity === DEFAULT_CONTROLLER_NAME ? 'controller' : `controller-${identity}`;
  const name = taskQueue === CONTROL_TASK_QUEUE ? base : `${base}-${taskQueue}`;
  return { name, dir: join(cfg.stateDir, 'controller', name) };
}

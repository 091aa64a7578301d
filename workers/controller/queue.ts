import { z } from 'zod';

/** Where `ferry migrate` and the drains send their workflows (the default controller's queue). */
export const CONTROL_TASK_QUEUE = 'ferry.control';

/**
 * Where a control queue keeps its migration slots. The cluster's limits belong to its control
 * queue: a test's own controller counts its own slots, so tests running side by side (and the
 * operator's drains on the same Redis) never share limits.
 */
export function slotsPrefix(taskQueue: string): string {
  return taskQueue === CONTROL_TASK_QUEUE ? 'ferry' : `ferry:${taskQueue}`;
}

/** Another controller's queue (a drill's own): also a directory name under `STATE/controller/`. */
export const TaskQueueSchema = z
  .string()
  .regex(/^[a-z0-9][a-z0-9.-]{0,62}$/, 'a task queue: lower-case letters, digits, . and -');

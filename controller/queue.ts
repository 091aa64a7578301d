import { z } from 'zod';

/** Where `ferry migrate` and the drains send their workflows (the default controller's queue). */
export const CONTROL_TASK_QUEUE = 'ferry.control';

/** Another controller's queue (a drill's own): also a directory name under `STATE/controller/`. */
export const TaskQueueSchema = z
  .string()
  .regex(/^[a-z0-9][a-z0-9.-]{0,62}$/, 'a task queue: lower-case letters, digits, . and -');

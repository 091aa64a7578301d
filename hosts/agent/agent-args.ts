import { z } from 'zod';
import { HostNameSchema } from './identity.ts';

export const DEFAULT_HOST_MEMORY_MIB = 8192;

/** What a host agent is started with (CLI flags or argv of the agent process). */
export const AgentArgsSchema = z.object({
  name: HostNameSchema,
  address: z
    .string()
    .regex(
      /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/,
      'the data-plane address must be a loopback address (127.x.x.x)',
    )
    .default('127.0.0.1'),
  memoryMiB: z.coerce
    .number()
    .int()
    .min(64)
    .max(1024 * 1024)
    .default(DEFAULT_HOST_MEMORY_MIB),
});
export type AgentArgs = z.infer<typeof AgentArgsSchema>;

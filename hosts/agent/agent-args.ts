import { z } from 'zod';
import { HostNameSchema } from '../../protocol/names.ts';

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
  /** The data plane's listen port; 0 (the default) lets the kernel pick one. */
  dataPort: z.coerce.number().int().min(0).max(65535).default(0),
  /**
   * The port other hosts are told to send streams to (registration, Prepare cookie), when it is not
   * the listen port: a relay or a drill's link proxy in front of the data plane forwards to it.
   */
  advertisePort: z.coerce.number().int().min(1).max(65535).optional(),
  /**
   * Emulated guests run in one guest runner process per host (hosts/guest-sim/runner.ts) instead
   * of a process each: what a few hundred guests on one machine need. Off by default.
   */
  guestRunner: z.boolean().default(false),
});
export type AgentArgs = z.infer<typeof AgentArgsSchema>;

import { z } from 'zod';
import { HostNameSchema } from '../../protocol/names.ts';

export const DEFAULT_HOST_MEMORY_MIB = 8192;

/** A dotted IPv4 address with each part 0-255 (a lab's 10.77.0.x, a real NIC's, or loopback). */
function ipv4(what: string) {
  return z
    .string()
    .regex(/^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/, `${what} must be an IPv4 address`)
    .refine((a) => a.split('.').every((n) => Number(n) <= 255), `${what} must be an IPv4 address`);
}

/** What a host agent is started with (CLI flags or argv of the agent process). */
export const AgentArgsSchema = z.object({
  name: HostNameSchema,
  /** Where the data plane listens and streams leave from: any IPv4 address of this host. */
  address: ipv4('the data-plane address').default('127.0.0.1'),
  /**
   * The address other hosts are told to reach this one at (registration, Prepare cookie), when it
   * is not the listen address: behind NAT, or a name in DNS.
   */
  advertise: z
    .string()
    .regex(/^[A-Za-z0-9.-]{1,253}$/, 'the advertised address must be an IPv4 address or a host name')
    .optional(),
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

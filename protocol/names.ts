// The names the protocol carries between hosts and checks at every boundary: a host's name (in
// cookies, task queues, registrations) and the tunnel's one-time token (minted by the destination,
// carried in its cookie, presented by the source on the data plane).
import { z } from 'zod';

export const HostNameSchema = z
  .string()
  .regex(
    /^[a-z0-9][a-z0-9-]{0,30}$/,
    'host names are lower-case letters, digits and -, at most 31 characters',
  );

/** The tunnel's token: 32 random bytes in base64url, 256 bits, no padding. */
export const TOKEN_PATTERN = /^[A-Za-z0-9_-]{43}$/;

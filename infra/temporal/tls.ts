// What a Temporal client or worker presents to the cluster's TLS front (docs/temporal-tls.md): the
// cluster CA to check the front's certificate against, and its own certificate and key. With
// security off there is no front, and the plaintext dev server is dialled as before.
import type { TLSConfig } from '@temporalio/client';
import type { Config } from '../config.ts';
import { processIdentity, type IdentityBundle } from '../pki/index.ts';

/**
 * The name every client checks the front's certificate for, whatever address it dials. It has a
 * dot, which no host, controller or operator name may have, so only the certificate the stack
 * issued to its Temporal front carries it (an address, by contrast, is in every service's
 * certificate on that machine, and a dialled IP would be sent as SNI, which RFC 6066 forbids).
 */
export const TEMPORAL_TLS_NAME = 'temporal.ferry.internal';

/** `tls` for Connection.connect / NativeConnection.connect; undefined (plaintext) with security off. */
export function temporalTls(cfg: Config, identity?: IdentityBundle): TLSConfig | undefined {
  if (!cfg.security.enabled) return undefined;
  return tlsOf(identity ?? processIdentity(cfg));
}

/** The TLS settings of one identity, whatever the switch says (the stack's probe, tests). */
export function tlsOf(identity: IdentityBundle): TLSConfig {
  return {
    serverNameOverride: TEMPORAL_TLS_NAME,
    serverRootCACertificate: identity.ca,
    clientCertPair: { crt: identity.cert, key: identity.key },
  };
}

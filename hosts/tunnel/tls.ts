// Mutual TLS on the agents' data-plane connection (with security on): both agents present the
// certificate of their host identity, both require one from the cluster CA, and each checks that
// the other is the very host the migration's cookies name — as libvirt's TLS migration checks the
// peer's x509 name and KubeVirt's migration mTLS the peer node. The one-time token stays inside as
// a second factor.
import type { PeerCertificate, TLSSocket, ConnectionOptions, TlsOptions } from 'node:tls';
import { X509Certificate } from 'node:crypto';
import { identityOfPeer } from '../../infra/pki/index.ts';

/** The host's identity as the tunnel needs it: PEM contents of its bundle. */
export interface TunnelTls {
  ca: Buffer;
  cert: Buffer;
  key: Buffer;
}

/**
 * TLS 1.3 only: its AEAD suites (AES-GCM first, fast with AES-NI), no renegotiation, and the
 * client's certificate inside the encrypted handshake.
 */
export const TUNNEL_TLS_MIN_VERSION = 'TLSv1.3';

/** The destination's listener: a client certificate from the cluster CA is required. */
export function serverTlsOptions(t: TunnelTls): TlsOptions {
  return {
    ca: t.ca,
    cert: t.cert,
    key: t.key,
    minVersion: TUNNEL_TLS_MIN_VERSION,
    requestCert: true,
    rejectUnauthorized: true,
  };
}

/**
 * The source's connection: the server's certificate must chain to the cluster CA and name the host
 * `expectedHost` (the destination the Prepare cookie came from). Checked inside the handshake, so
 * nothing — not the header, not the token — is sent to any other peer.
 */
export function clientTlsOptions(t: TunnelTls, expectedHost: string): ConnectionOptions {
  return {
    ca: t.ca,
    cert: t.cert,
    key: t.key,
    minVersion: TUNNEL_TLS_MIN_VERSION,
    rejectUnauthorized: true,
    checkServerIdentity: (_name, cert) => {
      const peer = hostOfCertificate(cert);
      if (peer === expectedHost) return undefined;
      return new PeerMismatchError(expectedHost, peer);
    },
  };
}

/** The peer's host name from its certificate's ferry://host/<name> SAN; undefined if not a host. */
export function hostOfCertificate(cert: PeerCertificate | X509Certificate): string | undefined {
  const id = identityOfPeer(cert);
  return id?.role === 'host' ? id.name : undefined;
}

/** The authenticated host at the other end of an accepted TLS connection. */
export function peerHostOf(socket: TLSSocket): string | undefined {
  const raw = socket.getPeerX509Certificate();
  return raw === undefined ? undefined : hostOfCertificate(raw);
}

/** The other agent's certificate is valid but names another host (or is not a host's). */
export class PeerMismatchError extends Error {
  readonly code = 'ERR_FERRY_PEER_MISMATCH';
  constructor(
    readonly expected: string,
    readonly actual: string | undefined,
  ) {
    super(
      `the peer's certificate names ${actual === undefined ? 'no host' : `host ${actual}`}, not ${expected}`,
    );
  }
}

// Who is at the other end: the identity a ferry certificate carries in its SAN URI
// (ferry://<role>/<name>). The TLS layer has already checked the certificate against the cluster
// CA; this only reads the name out of it.
import type { X509Certificate } from 'node:crypto';
import type { PeerCertificate } from 'node:tls';
import { IDENTITY_NAME, ROLES, type Role } from './paths.ts';

const URI = /(?:^|,\s*)URI:ferry:\/\/([a-z]+)\/([a-z0-9-]+)(?=,|$)/;

export function identityOfSan(subjectAltName: string | undefined): { role: Role; name: string } | undefined {
  const match = URI.exec(subjectAltName ?? '');
  if (!match) return undefined;
  const role = ROLES.find((r) => r === match[1]);
  const name = match[2] ?? '';
  if (!role || !IDENTITY_NAME.test(name)) return undefined;
  return { role, name };
}

export function identityOfPeer(
  cert: PeerCertificate | X509Certificate | undefined,
): { role: Role; name: string } | undefined {
  if (!cert) return undefined;
  const san = 'subjectaltname' in cert ? cert.subjectaltname : (cert as X509Certificate).subjectAltName;
  return identityOfSan(san);
}

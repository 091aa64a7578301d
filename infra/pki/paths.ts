// Where ferry keeps its PKI. The cluster CA's key lives only on the machine that made it (the one
// that ran `ferry pki init` or `ferry stack up`); every process elsewhere holds a bundle: its own
// certificate and key, the CA certificate and its role's service credentials.
import { join } from 'node:path';
import type { Config } from '../config.ts';

export const ROLES = ['host', 'controller', 'operator', 'service'] as const;
export type Role = (typeof ROLES)[number];

/** Names inside certificates: the same shape as host names, so a SAN URI is unambiguous. */
export const IDENTITY_NAME = /^[a-z0-9][a-z0-9-]{0,30}$/;

export const BUNDLE_FILES = {
  ca: 'ca.crt',
  cert: 'cert.pem',
  key: 'key.pem',
  credentials: 'credentials.json',
  signingKey: 'signing.key',
  signingPub: 'signing.pub',
} as const;

export function clusterPkiDir(cfg: Config): string {
  return join(cfg.stateDir, 'pki');
}

export function caPaths(cfg: Config): { cert: string; key: string } {
  const dir = join(clusterPkiDir(cfg), 'ca');
  return { cert: join(dir, 'ca.crt'), key: join(dir, 'ca.key') };
}

export function credentialsDir(cfg: Config): string {
  return join(clusterPkiDir(cfg), 'credentials');
}

export function bundleDir(cfg: Config, role: Role, name: string): string {
  return join(cfg.stateDir, 'identities', `${role}-${name}`);
}

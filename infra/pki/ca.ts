// The cluster CA: one ECDSA P-256 key and a self-signed certificate, made once. Every ferry
// certificate (hosts, controllers, operators, the services) is issued by it and checked against it.
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import type { Config } from '../config.ts';
import { PkiError } from './errors.ts';
import { openssl } from './openssl.ts';
import { caPaths, clusterPkiDir } from './paths.ts';
import { privateDir } from './private-files.ts';
import { chmodSync } from 'node:fs';

const CA_DAYS = 3650;

export function initCaSync(cfg: Config): { created: boolean; certPath: string } {
  const { cert, key } = caPaths(cfg);
  if (existsSync(cert) && existsSync(key)) return { created: false, certPath: cert };
  if (existsSync(cert) !== existsSync(key)) {
    throw new PkiError(`the cluster CA in ${clusterPkiDir(cfg)} is half there (certificate or key missing)`, {
      hint: 'restore the missing file, or remove both ca.crt and ca.key and reissue every identity',
    });
  }
  privateDir(clusterPkiDir(cfg));
  // The CA's name carries a random suffix: two clusters' CAs are never mistaken for one another.
  const tag = randomBytes(4).toString('hex');
  openssl([
    'req',
    '-x509',
    '-new',
    '-newkey',
    'ec',
    '-pkeyopt',
    'ec_paramgen_curve:P-256',
    '-nodes',
    '-keyout',
    key,
    '-out',
    cert,
    '-days',
    String(CA_DAYS),
    '-sha256',
    '-subj',
    `/O=ferry/CN=ferry cluster CA ${tag}`,
    '-addext',
    'basicConstraints=critical,CA:TRUE,pathlen:0',
    '-addext',
    'keyUsage=critical,keyCertSign,cRLSign',
  ]);
  chmodSync(key, 0o600);
  return { created: true, certPath: cert };
}

export function initCa(cfg: Config): Promise<{ created: boolean; certPath: string }> {
  return Promise.resolve().then(() => initCaSync(cfg));
}

export function hasCaKey(cfg: Config): boolean {
  return existsSync(caPaths(cfg).key);
}

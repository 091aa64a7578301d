// The cluster CA: one ECDSA P-256 key and a self-signed certificate, made once. Every ferry
// certificate (hosts, controllers, operators, the services) is issued by it and checked against it.
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, renameSync, rmSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import type { Config } from '../config.ts';
import { PkiError } from './errors.ts';
import { openssl } from './openssl.ts';
import { caPaths, clusterPkiDir } from './paths.ts';
import { privateDir } from './private-files.ts';

const CA_DAYS = 3650;

export function initCaSync(cfg: Config): { created: boolean; certPath: string } {
  const { cert, key } = caPaths(cfg);
  if (existsSync(cert) && existsSync(key)) return { created: false, certPath: cert };
  const final = dirname(cert);
  if (existsSync(final)) {
    throw new PkiError(`the cluster CA in ${final} is half there (certificate or key missing)`, {
      hint: 'restore the missing file, or remove that directory and reissue every identity',
    });
  }
  privateDir(clusterPkiDir(cfg));
  // The CA's name carries a random suffix: two clusters' CAs are never mistaken for one another.
  const tag = randomBytes(4).toString('hex');
  // Made aside and renamed into place whole: two processes starting at once on a new state dir
  // end with one CA, never a key from one and a certificate from the other.
  const tmp = `${final}.tmp-${process.pid}-${tag}`;
  privateDir(tmp);
  try {
    openssl([
      ...['req', '-x509', '-new', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes'],
      ...['-keyout', join(tmp, basename(key)), '-out', join(tmp, basename(cert))],
      ...['-days', String(CA_DAYS), '-sha256', '-subj', `/O=ferry/CN=ferry cluster CA ${tag}`],
      ...['-addext', 'basicConstraints=critical,CA:TRUE,pathlen:0'],
      ...['-addext', 'keyUsage=critical,keyCertSign,cRLSign'],
    ]);
    chmodSync(join(tmp, basename(key)), 0o600);
    renameSync(tmp, final);
    return { created: true, certPath: cert };
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code !== 'ENOTEMPTY' && code !== 'EEXIST') throw err;
    return { created: false, certPath: cert };
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

export function initCa(cfg: Config): Promise<{ created: boolean; certPath: string }> {
  return Promise.resolve().then(() => initCaSync(cfg));
}

export function hasCaKey(cfg: Config): boolean {
  return existsSync(caPaths(cfg).key);
}

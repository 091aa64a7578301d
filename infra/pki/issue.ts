// Issues an identity: an ECDSA P-256 key, a certificate from the cluster CA with the identity in
// its SAN (URI ferry://<role>/<name>, plus DNS and IP names for servers), and the bundle around it.
// Hosts and controllers also get an Ed25519 key that signs the events they publish.
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { existsSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { Config } from '../config.ts';
import { readBundle, type IdentityBundle } from './bundle.ts';
import { initCaSync } from './ca.ts';
import { roleUser, servicePassword } from './credentials.ts';
import { PkiError } from './errors.ts';
import { openssl } from './openssl.ts';
import { BUNDLE_FILES, bundleDir, caPaths, IDENTITY_NAME, type Role } from './paths.ts';
import { privateDir, writePrivateFile } from './private-files.ts';
import { copyFileSync } from 'node:fs';

const LEAF_DAYS = 825;
const SAN = /^(DNS:[A-Za-z0-9.-]+|IP:[0-9.]+|IP:[0-9a-fA-F:]+)$/;

export interface IssueRequest {
  role: Role;
  name: string;
  /** Extra subject alternative names, `DNS:name` or `IP:a.b.c.d`. */
  sans?: readonly string[];
}

export function identityUri(role: Role, name: string): string {
  return `ferry://${role}/${name}`;
}

export function issueIdentitySync(cfg: Config, req: IssueRequest, outDir?: string): IdentityBundle {
  if (!IDENTITY_NAME.test(req.name)) {
    throw new PkiError(
      `"${req.name}" is not a valid ${req.role} name: lower-case letters, digits and -, at most 31 characters`,
    );
  }
  for (const san of req.sans ?? []) {
    if (!SAN.test(san))
      throw new PkiError(`"${san}" is not a subject alternative name: give DNS:name or IP:address`);
  }
  initCaSync(cfg);
  const final = outDir ?? bundleDir(cfg, req.role, req.name);
  // Made aside and swapped in whole, so that a reader never sees a key without its certificate.
  const dir = `${final}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
  privateDir(dirname(final));
  privateDir(dir);
  try {
    makeBundle(cfg, req, dir, final);
    const old = `${final}.old-${process.pid}-${randomBytes(4).toString('hex')}`;
    if (existsSync(final)) renameSync(final, old);
    renameSync(dir, final);
    rmSync(old, { recursive: true, force: true });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  return readBundle(final);
}

function makeBundle(cfg: Config, req: IssueRequest, dir: string, final: string): void {
  const ca = caPaths(cfg);
  const key = join(dir, BUNDLE_FILES.key);
  const cert = join(dir, BUNDLE_FILES.cert);
  const csr = join(dir, 'request.csr');
  const ext = join(dir, 'request.ext');
  const sans = [`URI:${identityUri(req.role, req.name)}`, `DNS:${req.name}`, ...(req.sans ?? [])];
  openssl(['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', key]);
  writePrivateFile(key, openssl(['pkey', '-in', key]));
  openssl(['req', '-new', '-key', key, '-subj', `/O=ferry/OU=${req.role}/CN=${req.name}`, '-out', csr]);
  writeFileSync(
    ext,
    [
      'basicConstraints=critical,CA:FALSE',
      'keyUsage=critical,digitalSignature,keyEncipherment',
      'extendedKeyUsage=serverAuth,clientAuth',
      `subjectAltName=${[...new Set(sans)].join(',')}`,
      '',
    ].join('\n'),
  );
  try {
    openssl([
      'x509',
      '-req',
      '-in',
      csr,
      '-CA',
      ca.cert,
      '-CAkey',
      ca.key,
      '-out',
      cert,
      '-days',
      String(LEAF_DAYS),
      '-sha256',
      '-set_serial',
      `0x${randomBytes(16).toString('hex')}`,
      '-extfile',
      ext,
    ]);
  } finally {
    rmSync(csr, { force: true });
    rmSync(ext, { force: true });
  }
  copyFileSync(ca.cert, join(dir, BUNDLE_FILES.ca));
  const user = roleUser(req.role);
  const credentials = {
    redis: { user, password: servicePassword(cfg, 'redis', user) },
    kafka: { user, password: servicePassword(cfg, 'kafka', user) },
  };
  writePrivateFile(join(dir, BUNDLE_FILES.credentials), JSON.stringify(credentials, null, 2) + '\n');
  if (req.role === 'host' || req.role === 'controller') {
    const signing = join(dir, BUNDLE_FILES.signingKey);
    // A reissued certificate keeps the signing key: the key registered for this identity's
    // events at enrolment stays the one that signs them.
    const kept = join(final, BUNDLE_FILES.signingKey);
    if (existsSync(kept)) {
      writePrivateFile(signing, readFileSync(kept));
      copyFileSync(join(final, BUNDLE_FILES.signingPub), join(dir, BUNDLE_FILES.signingPub));
    } else {
      const pair = generateKeyPairSync('ed25519');
      writePrivateFile(signing, pair.privateKey.export({ type: 'pkcs8', format: 'pem' }));
      writeFileSync(
        join(dir, BUNDLE_FILES.signingPub),
        pair.publicKey.export({ type: 'spki', format: 'pem' }),
      );
    }
  }
}

export function issueIdentity(cfg: Config, req: IssueRequest, outDir?: string): Promise<IdentityBundle> {
  return Promise.resolve().then(() => issueIdentitySync(cfg, req, outDir));
}

// A bundle on disk: what one process needs to prove who it is and to reach the services. It is
// checked as it is read (the certificate chains to the bundle's CA, the key matches the
// certificate, the identity is in the SAN), so a wrong or half-copied bundle fails at start-up
// with one line instead of at the first TLS handshake.
import { X509Certificate, createPrivateKey } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { PkiError } from './errors.ts';
import { BUNDLE_FILES, type Role } from './paths.ts';
import { identityOfPeer } from './peer.ts';

const Credential = z.object({ user: z.string().min(1), password: z.string().min(16) });
const CredentialsFile = z.object({ redis: Credential, kafka: Credential });

export interface IdentityBundle {
  dir: string;
  role: Role;
  name: string;
  caPath: string;
  certPath: string;
  keyPath: string;
  ca: Buffer;
  cert: Buffer;
  key: Buffer;
  credentials: z.infer<typeof CredentialsFile>;
  /** Ed25519 private key (PEM) that signs the events this identity publishes: hosts and controllers. */
  signingKeyPath?: string;
  /** When the certificate stops being valid. */
  notAfter: Date;
}

function read(dir: string, file: string): Buffer {
  const path = join(dir, file);
  try {
    return readFileSync(path);
  } catch (err) {
    throw new PkiError(`the identity bundle ${dir} has no readable ${file}`, {
      cause: err,
      hint: 'issue it again on the CA machine with `ferry pki issue <role> <name> --out DIR` and copy DIR whole',
    });
  }
}

export function readBundle(dir: string): IdentityBundle {
  const ca = read(dir, BUNDLE_FILES.ca);
  const cert = read(dir, BUNDLE_FILES.cert);
  const key = read(dir, BUNDLE_FILES.key);
  const creds = CredentialsFile.safeParse(JSON.parse(read(dir, BUNDLE_FILES.credentials).toString('utf8')));
  if (!creds.success) {
    throw new PkiError(
      `${join(dir, BUNDLE_FILES.credentials)} is not a credentials file: ${creds.error.issues[0]?.message}`,
    );
  }
  let x509: X509Certificate;
  let caCert: X509Certificate;
  try {
    x509 = new X509Certificate(cert);
    caCert = new X509Certificate(ca);
  } catch (err) {
    throw new PkiError(`the certificates in ${dir} are not PEM X.509: ${(err as Error).message}`, {
      cause: err,
    });
  }
  if (!x509.verify(caCert.publicKey)) {
    throw new PkiError(`the certificate in ${dir} was not issued by the CA in the same bundle`, {
      hint: 'the cluster CA was made again since: reissue this identity with `ferry pki issue`',
    });
  }
  if (!x509.checkPrivateKey(createPrivateKey(key))) {
    throw new PkiError(`the key in ${dir} does not belong to its certificate`);
  }
  const id = identityOfPeer(x509);
  if (!id)
    throw new PkiError(`the certificate in ${dir} carries no ferry identity (SAN URI ferry://role/name)`);
  const notAfter = new Date(x509.validTo);
  const signing = join(dir, BUNDLE_FILES.signingKey);
  return {
    dir,
    role: id.role,
    name: id.name,
    caPath: join(dir, BUNDLE_FILES.ca),
    certPath: join(dir, BUNDLE_FILES.cert),
    keyPath: join(dir, BUNDLE_FILES.key),
    ca,
    cert,
    key,
    credentials: creds.data,
    ...(existsSync(signing) ? { signingKeyPath: signing } : {}),
    notAfter,
  };
}

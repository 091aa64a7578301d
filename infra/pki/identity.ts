// Finding the identity a process runs as. An explicit bundle (FERRY_IDENTITY_DIR) wins; otherwise
// the role's default bundle under the state dir, issued on first use where the CA key is — so on
// the machine that ran `ferry stack up` every command works with no flags, and anywhere else a
// missing bundle is one line saying which command makes it.
import { X509Certificate } from 'node:crypto';
import { existsSync } from 'node:fs';
import { isIP } from 'node:net';
import { join } from 'node:path';
import type { Config } from '../config.ts';
import { readBundle, type IdentityBundle } from './bundle.ts';
import { hasCaKey } from './ca.ts';
import { PkiError } from './errors.ts';
import { issueIdentitySync } from './issue.ts';
import { BUNDLE_FILES, bundleDir, type Role } from './paths.ts';

export function loadIdentitySync(
  cfg: Config,
  role: Role,
  name: string,
  sans: readonly string[] = [],
): IdentityBundle {
  if (cfg.identityDir !== undefined) {
    const bundle = readBundle(cfg.identityDir);
    if (bundle.role !== role) {
      throw new PkiError(
        `the identity in ${cfg.identityDir} is ${bundle.role} ${bundle.name}, but this process runs as a ${role}`,
        {
          hint: `point FERRY_IDENTITY_DIR at a ${role} bundle (\`ferry pki issue ${role} ${name} --out DIR\`)`,
        },
      );
    }
    return bundle;
  }
  const dir = bundleDir(cfg, role, name);
  if (existsSync(join(dir, BUNDLE_FILES.cert))) {
    const bundle = readBundle(dir);
    if (sans.every((san) => hasSan(bundle.cert, san))) return bundle;
  }
  if (!hasCaKey(cfg)) {
    throw new PkiError(`no identity for ${role} ${name} in ${dir}, and no cluster CA here to issue one`, {
      hint: `on the CA machine run \`ferry pki issue ${role} ${name} --out DIR\`, copy DIR here and set FERRY_IDENTITY_DIR=DIR`,
    });
  }
  return issueIdentitySync(cfg, { role, name, sans }, dir);
}

export function loadIdentity(
  cfg: Config,
  role: Role,
  name: string,
  sans: readonly string[] = [],
): Promise<IdentityBundle> {
  return Promise.resolve().then(() => loadIdentitySync(cfg, role, name, sans));
}

function hasSan(certPem: Buffer, san: string): boolean {
  const names = (new X509Certificate(certPem).subjectAltName ?? '').split(/,\s*/);
  const [kind, value] = san.split(':', 2) as [string, string];
  return names.includes(kind === 'IP' ? `IP Address:${value}` : `${kind}:${value}`);
}

/** The addresses clients dial a service at, as SANs its server certificate must carry. */
export function serviceSans(cfg: Config): string[] {
  const hosts = new Set<string>(['localhost', '127.0.0.1', cfg.bindHost]);
  hosts.add(cfg.temporal.address.replace(/:\d+$/, ''));
  for (const broker of cfg.kafka.brokers) hosts.add(broker.replace(/:\d+$/, ''));
  hosts.add(new URL(cfg.redis.url).hostname);
  return [...hosts].map((h) => (isIP(h) ? `IP:${h}` : `DNS:${h}`));
}

/** The server certificate of one of the stack's services (Redis, Kafka, Temporal's TLS front). */
export function serviceIdentitySync(cfg: Config, service: 'redis' | 'kafka' | 'temporal'): IdentityBundle {
  return loadIdentitySync({ ...cfg, identityDir: undefined }, 'service', service, serviceSans(cfg));
}

export function serviceIdentity(
  cfg: Config,
  service: 'redis' | 'kafka' | 'temporal',
): Promise<IdentityBundle> {
  return Promise.resolve().then(() => serviceIdentitySync(cfg, service));
}

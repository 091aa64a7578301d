// X.509 is made by Debian's openssl CLI, never by hand-written ASN.1. Synchronous on purpose: a
// process loads or issues its identity once, before it opens any connection.
import { execFileSync } from 'node:child_process';
import { findOnPath } from '../provision/debian-package.ts';
import { PkiError } from './errors.ts';

export function openssl(args: string[]): string {
  const binary = findOnPath('openssl');
  if (!binary) {
    throw new PkiError('openssl not found: ferry makes its certificates with it', {
      hint: 'install it with: apt-get install -y openssl',
    });
  }
  try {
    return execFileSync(binary, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (err) {
    const raw = (err as { stderr?: string | Buffer }).stderr;
    const stderr = (typeof raw === 'string' ? raw : (raw?.toString('utf8') ?? '')).trim().split('\n')[0];
    throw new PkiError(`openssl ${args[0]} failed: ${stderr || (err as Error).message}`, {
      cause: err,
      hint: 'check the files under the pki directory; `ferry pki init` makes a new CA where none is',
    });
  }
}

// The stack's system tools (java, mvn, redis-server, python3's pip) come from Debian's packages.
// `stack up` installs one that is missing when it runs as root, so a fresh machine needs no
// hand set-up; otherwise it says exactly which package to install.
import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';
import { ProvisionError } from '../stack/errors.ts';
import { run } from './run.ts';

export function findOnPath(binary: string): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (!dir) continue;
    const candidate = join(dir, binary);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not in this directory
    }
  }
  return undefined;
}

let aptUpdated = false;

export async function ensureBinary(
  binary: string,
  debianPackage: string,
  log: (line: string) => void,
): Promise<string> {
  const found = findOnPath(binary);
  if (found) return found;
  const hint = `install it with: apt-get install -y ${debianPackage}`;
  if (process.getuid?.() !== 0 || !findOnPath('apt-get')) {
    throw new ProvisionError(
      `${binary} not found and ferry cannot install it here (needs root and apt-get)`,
      {
        hint,
      },
    );
  }
  log(`installing ${debianPackage} (for ${binary}) from Debian's packages...`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  let result = await run('apt-get', ['install', '-y', '-qq', debianPackage], { env });
  if (result.code !== 0 && !aptUpdated) {
    // A fresh machine has no package lists yet.
    await run('apt-get', ['update', '-qq'], { env });
    aptUpdated = true;
    result = await run('apt-get', ['install', '-y', '-qq', debianPackage], { env });
  }
  const path = findOnPath(binary);
  if (result.code !== 0 || !path) {
    const last = result.stderr.trim().split('\n').slice(-1)[0] ?? '';
    throw new ProvisionError(`could not install ${debianPackage}: ${last}`, { hint });
  }
  return path;
}

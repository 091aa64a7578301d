// Passwords of the services' users (Redis ACL users, Kafka SCRAM users), one per role. They are
// made on the CA's machine at first use and handed out in bundles; the `admin` user is the stack's
// own (probes, topic creation) and is never put in a bundle.
import { randomBytes } from 'node:crypto';
import { existsSync, linkSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import type { Config } from '../config.ts';
import { credentialsDir, type Role } from './paths.ts';
import { privateDir, writePrivateFile } from './private-files.ts';

export type ServiceName = 'redis' | 'kafka';
export type ServiceUser = 'agent' | 'controller' | 'operator' | 'admin';

export function roleUser(role: Role): ServiceUser {
  switch (role) {
    case 'host':
      return 'agent';
    case 'controller':
      return 'controller';
    case 'operator':
      return 'operator';
    case 'service':
      return 'admin';
  }
}

export function servicePassword(cfg: Config, service: ServiceName, user: ServiceUser): string {
  const dir = credentialsDir(cfg);
  const file = join(dir, `${service}-${user}.password`);
  if (existsSync(file)) return readFileSync(file, 'utf8').trim();
  privateDir(dir);
  // Written aside and linked into place: of two processes making it at once, one wins and both
  // return the winner's password (a bundle and the ACL file must never disagree).
  const tmp = `${file}.${process.pid}.${randomBytes(4).toString('hex')}`;
  writePrivateFile(tmp, randomBytes(32).toString('base64url') + '\n');
  try {
    linkSync(tmp, file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
  } finally {
    rmSync(tmp, { force: true });
  }
  return readFileSync(file, 'utf8').trim();
}

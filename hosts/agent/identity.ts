// A host's identity: its name and a UUID minted once and kept in its state dir, as libvirt keeps
// a host UUID (the v3 cookie carries it so that a migration to the same host is refused).
import { randomUUID } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { FerryError } from '../../errors/ferry-error.ts';
import type { Config } from '../../infra/config.ts';
import { processIdentity } from '../../infra/pki/index.ts';
import { privateDir } from '../../infra/pki/private-files.ts';
import { HostNameSchema } from '../../protocol/names.ts';

const IdentityFile = z.object({ name: HostNameSchema, uuid: z.uuid() });
export type HostIdentity = z.infer<typeof IdentityFile>;

export function hostStateDir(stateDir: string, name: string): string {
  return join(stateDir, 'hosts', name);
}

export function loadOrCreateIdentity(dir: string, name: string): HostIdentity {
  // The host's state (outbox, guests, sockets) is its user's alone; a dir an older ferry made
  // open to others is closed on the agent's next start.
  privateDir(dir);
  const file = join(dir, 'identity.json');
  if (existsSync(file)) return IdentityFile.parse(JSON.parse(readFileSync(file, 'utf8')));
  const identity = { name: HostNameSchema.parse(name), uuid: randomUUID() };
  writeFileSync(file, JSON.stringify(identity) + '\n');
  return identity;
}

/** An agent started as a host its certificate does not name. */
export class HostIdentityError extends FerryError {
  readonly code = 'HOST_IDENTITY_MISMATCH';
}

/**
 * With security on, the host name an agent runs as is the one its certificate names
 * (ferry://host/<name>): an agent given another host's bundle is refused before it claims the
 * name. Off: nothing to check.
 */
export function checkCertificateName(cfg: Config, name: string): void {
  if (!cfg.security.enabled) return;
  const identity = processIdentity(cfg);
  if (identity.role !== 'host' || identity.name !== name) {
    throw new HostIdentityError(
      `the certificate in ${identity.dir} is ${identity.role} ${identity.name}'s: it does not make this agent host ${name}`,
      { hint: `run it as --name ${identity.name}, or point FERRY_IDENTITY_DIR at host ${name}'s bundle` },
    );
  }
}

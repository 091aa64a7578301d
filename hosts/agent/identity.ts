// A host's identity: its name and a UUID minted once and kept in its state dir, as libvirt keeps
// a host UUID (the v3 cookie carries it so that a migration to the same host is refused).
import { randomUUID } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
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

// One process, one identity: its entry point says once who it is (an agent: its host; the
// controller: its name; the CLI: the operator), and every client it opens (Redis, Kafka, Temporal,
// the tunnel) presents that identity when security is on. Module state on purpose — it is the
// process's TLS configuration, like its environment, and threading it through every constructor
// would change every call site for one value.
import type { Config } from '../config.ts';
import type { IdentityBundle } from './bundle.ts';
import { loadIdentitySync } from './identity.ts';
import type { Role } from './paths.ts';

export const DEFAULT_OPERATOR = 'operator';

let wanted: { role: Role; name: string } = { role: 'operator', name: DEFAULT_OPERATOR };
const loaded = new Map<string, IdentityBundle>();

export function useIdentity(role: Role, name: string): void {
  wanted = { role, name };
}

export function currentRole(): { role: Role; name: string } {
  return wanted;
}

function cached(cfg: Config, role: Role, name: string): IdentityBundle {
  const key = `${cfg.stateDir}\0${cfg.identityDir ?? ''}\0${role}\0${name}`;
  let bundle = loaded.get(key);
  if (!bundle) {
    bundle = loadIdentitySync(cfg, role, name);
    loaded.set(key, bundle);
  }
  return bundle;
}

export function processIdentity(cfg: Config): IdentityBundle {
  return cached(cfg, wanted.role, wanted.name);
}

/** The stack's own identity: its probes and provisioning (Redis and Kafka user `admin`). */
export function adminIdentity(cfg: Config): IdentityBundle {
  return cached({ ...cfg, identityDir: undefined }, 'service', 'admin');
}

// The certificate an agent's data plane presents, with security on: its host's identity bundle.
// Loaded for the agent's own name rather than taken from the process identity, so several agents
// started in one process (tests) each present their own host, and a bundle naming another host is
// refused at start-up instead of by every peer's handshake later.
import type { Config } from '../../infra/config.ts';
import { loadIdentitySync, PkiError } from '../../infra/pki/index.ts';
import type { TunnelTls } from '../tunnel/tls.ts';

/** undefined with security off: the tunnel stays plain TCP. */
export function tunnelTls(cfg: Config, host: string): TunnelTls | undefined {
  if (!cfg.security.enabled) return undefined;
  const bundle = loadIdentitySync(cfg, 'host', host);
  if (bundle.name !== host) {
    throw new PkiError(
      `the identity in ${bundle.dir} is host ${bundle.name}, but this agent is ${host}: peers would refuse its tunnels`,
      {
        hint: `point FERRY_IDENTITY_DIR at host ${host}'s bundle (\`ferry pki issue host ${host} --out DIR\`)`,
      },
    );
  }
  return { ca: bundle.ca, cert: bundle.cert, key: bundle.key };
}

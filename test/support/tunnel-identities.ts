// Certificates for the tunnel's TLS tests, made by ferry's own PKI (infra/pki, the openssl CLI) in
// a throwaway state dir: three hosts and an operator from the cluster CA, and a host from another
// CA that names the same host as the real source, as an impostor would.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '../../infra/config.ts';
import { issueIdentitySync } from '../../infra/pki/index.ts';
import type { TunnelTls } from '../../hosts/tunnel/tls.ts';

export interface TunnelIdentities {
  /** The source (hostA), the destination (hostB) and a third host of the same cluster. */
  hostA: TunnelTls;
  hostB: TunnelTls;
  hostC: TunnelTls;
  /** A valid certificate of the cluster that is not a host's. */
  operator: TunnelTls;
  /** Names host-a, but signed by another CA. */
  impostorA: TunnelTls;
  /** The cluster CA alone, for a client that has no certificate of its own. */
  ca: Buffer;
  cleanup(): Promise<void>;
}

export async function tunnelIdentities(): Promise<TunnelIdentities> {
  const dir = await mkdtemp(join(tmpdir(), 'ferry-tunnel-pki-'));
  const cluster = loadConfig({ FERRY_STATE_DIR: join(dir, 'cluster') });
  const other = loadConfig({ FERRY_STATE_DIR: join(dir, 'other') });
  const tls = (cfg: typeof cluster, role: 'host' | 'operator', name: string): TunnelTls => {
    const b = issueIdentitySync(cfg, { role, name });
    return { ca: b.ca, cert: b.cert, key: b.key };
  };
  const hostA = tls(cluster, 'host', 'host-a');
  return {
    hostA,
    hostB: tls(cluster, 'host', 'host-b'),
    hostC: tls(cluster, 'host', 'host-c'),
    operator: tls(cluster, 'operator', 'alice'),
    impostorA: tls(other, 'host', 'host-a'),
    ca: hostA.ca,
    cleanup: () => rm(dir, { recursive: true, force: true }),
  };
}

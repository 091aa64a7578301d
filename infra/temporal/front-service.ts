// Temporal's front: Debian's nginx, verifying client certificates against the cluster CA and
// passing gRPC to the dev server's plaintext port on 127.0.0.1 (docs/temporal-tls.md says why
// nginx rather than a Temporal server with TLS settings). Started by `stack up` with security on,
// and, passing plaintext, when the stack binds a lab's bridge (service.ts, temporalFronted).
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Config } from '../config.ts';
import { adminIdentity, initCa, loadIdentity, serviceSans } from '../pki/index.ts';
import { ensureBinary, findOnPath } from '../provision/debian-package.ts';
import type { ServiceSpec } from '../stack/service.ts';
import { frontConfig } from './front-config.ts';
import { probeTemporal } from './service.ts';
import { TEMPORAL_TLS_NAME, tlsOf } from './tls.ts';

// Debian puts nginx in /usr/sbin, which a user's PATH often lacks; the binary runs as any user.
function installedNginx(): string | undefined {
  return findOnPath('nginx') ?? (existsSync('/usr/sbin/nginx') ? '/usr/sbin/nginx' : undefined);
}

async function nginxBinary(log: (line: string) => void): Promise<string> {
  return installedNginx() ?? (await ensureBinary('nginx', 'nginx', log));
}

/** "nginx/1.22.1": `nginx -v` says it on stderr. */
function nginxVersion(binary: string | undefined): string | undefined {
  if (!binary) return undefined;
  const out = spawnSync(binary, ['-v'], { encoding: 'utf8' });
  return /nginx\/\S+/.exec(`${out.stderr}${out.stdout}`)?.[0];
}

/**
 * The stack's own server certificate, with the name clients check (tls.ts) besides the addresses
 * every service certificate carries.
 */
async function frontIdentity(cfg: Config) {
  await initCa(cfg);
  return loadIdentity({ ...cfg, identityDir: undefined }, 'service', 'temporal', [
    ...serviceSans(cfg),
    `DNS:${TEMPORAL_TLS_NAME}`,
  ]);
}

export function temporalFrontService(cfg: Config): ServiceSpec {
  const dir = join(cfg.stateDir, 'temporal-front');
  let version: string | undefined;
  return {
    name: 'temporal-front',
    host: cfg.bindHost,
    port: cfg.temporal.port,
    otherPorts: [],
    logPath: join(cfg.stateDir, 'logs', 'temporal-front.log'),
    pidPath: join(cfg.stateDir, 'run', 'temporal-front.pid'),
    // It answers once the dev server behind it does, which starts beside it.
    readyTimeoutMs: 60_000,
    get version() {
      return (version ??= nginxVersion(installedNginx())) ?? 'nginx';
    },
    async provision(log) {
      version = nginxVersion(await nginxBinary(log));
    },
    async daemon(log) {
      const binary = await nginxBinary(log);
      // Security off (a lab's bridge): plaintext gRPC passed on, no certificates.
      const identity = cfg.security.enabled ? await frontIdentity(cfg) : undefined;
      mkdirSync(dir, { recursive: true, mode: 0o700 });
      const conf = join(dir, 'nginx.conf');
      writeFileSync(
        conf,
        frontConfig({
          listenHost: cfg.bindHost,
          listenPort: cfg.temporal.port,
          backendPort: cfg.temporal.backendPort,
          ...(identity
            ? { tls: { certPath: identity.certPath, keyPath: identity.keyPath, caPath: identity.caPath } }
            : {}),
          workDir: dir,
        }),
      );
      return {
        command: binary,
        // -e: nginx opens its compiled-in error log before it reads the configuration.
        args: ['-p', dir, '-c', conf, '-e', 'stderr'],
        logPath: this.logPath,
        pidPath: this.pidPath,
      };
    },
    // The whole path a client takes, at the address this stack binds (clients may dial it under
    // another, FERRY_TEMPORAL_ADDRESS): TLS with the stack's admin certificate, then the server.
    async probe() {
      let tls;
      if (cfg.security.enabled) {
        try {
          tls = tlsOf(adminIdentity(cfg));
        } catch (err) {
          return { answers: false, detail: `no admin identity to probe with: ${(err as Error).message}` };
        }
      }
      // The server's version is the dev server's; `status` shows the front's own (nginx's).
      const { version: _server, ...probe } = await probeTemporal(
        cfg,
        `${cfg.bindHost}:${cfg.temporal.port}`,
        tls,
      );
      return probe;
    },
  };
}

import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { copyFileSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { connect, createServer, type TLSSocket } from 'node:tls';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { loadConfig } from '../../infra/config.ts';
import {
  identityOfPeer,
  identityOfSan,
  issueIdentitySync,
  loadIdentitySync,
  PkiError,
  readBundle,
  serviceIdentitySync,
  type IdentityBundle,
} from '../../infra/pki/index.ts';

const execFileAsync = promisify(execFile);
const root = mkdtempSync(join(tmpdir(), 'ferry-pki-'));
after(() => rmSync(root, { recursive: true, force: true }));
const cfgAt = (name: string) => loadConfig({ FERRY_STATE_DIR: join(root, name) });

/** A mutual-TLS handshake between two bundles; resolves with who each side saw, or the error. */
async function handshake(
  server: IdentityBundle,
  client: IdentityBundle,
): Promise<{ seenByServer?: string; error?: string }> {
  const srv = createServer({
    key: server.key,
    cert: server.cert,
    ca: server.ca,
    requestCert: true,
    rejectUnauthorized: true,
  });
  let seenByServer: string | undefined;
  srv.on('secureConnection', (s: TLSSocket) => {
    const id = identityOfPeer(s.getPeerCertificate());
    seenByServer = id && `${id.role}/${id.name}`;
    s.end('ok');
  });
  srv.on('tlsClientError', () => undefined);
  srv.listen(0, '127.0.0.1');
  await once(srv, 'listening');
  try {
    const sock = connect({
      host: '127.0.0.1',
      port: (srv.address() as AddressInfo).port,
      key: client.key,
      cert: client.cert,
      ca: client.ca,
      checkServerIdentity: () => undefined,
    });
    const got = await new Promise<string>((resolve, reject) => {
      let data = '';
      sock.on('data', (d: Buffer) => (data += d.toString()));
      sock.on('end', () => resolve(data));
      sock.on('error', reject);
    });
    assert.equal(got, 'ok');
    return { ...(seenByServer ? { seenByServer } : {}) };
  } catch (err) {
    return { error: (err as Error).message };
  } finally {
    srv.close();
  }
}

describe('pki', () => {
  it('pki - processes making the CA and passwords at once on a new state dir agree on one of each', async () => {
    const dir = join(root, 'race');
    const script = [
      "import { loadConfig } from './infra/config.ts';",
      "import { initCaSync, servicePassword, caPaths } from './infra/pki/index.ts';",
      "import { readFileSync } from 'node:fs';",
      `const cfg = loadConfig({ FERRY_STATE_DIR: ${JSON.stringify(dir)} });`,
      'initCaSync(cfg);',
      "console.log(readFileSync(caPaths(cfg).cert, 'utf8').length + ':' + readFileSync(caPaths(cfg).cert, 'utf8').slice(-80) + servicePassword(cfg, 'redis', 'agent'));",
    ].join('\n');
    const runs = Array.from({ length: 4 }, () =>
      execFileAsync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
        cwd: process.cwd(),
      }),
    );
    const outs = (await Promise.all(runs)).map((r) => r.stdout.trim());
    assert.equal(
      new Set(outs).size,
      1,
      `four processes saw ${new Set(outs).size} different CAs or passwords`,
    );
  });

  const cfg = cfgAt('a');
  const host = issueIdentitySync(cfg, { role: 'host', name: 'h1', sans: ['IP:10.77.0.2'] });

  it('pki - a host bundle names its role and host, chains to the CA, keeps its keys private', () => {
    assert.equal(host.role, 'host');
    assert.equal(host.name, 'h1');
    assert.equal(host.credentials.redis.user, 'agent');
    assert.equal(host.credentials.kafka.user, 'agent');
    assert.equal(statSync(host.keyPath).mode & 0o777, 0o600);
    assert.equal(statSync(host.dir).mode & 0o777, 0o700);
    assert.ok(host.signingKeyPath, 'hosts sign their events');
    assert.equal(statSync(host.signingKeyPath).mode & 0o777, 0o600);
    assert.equal(readBundle(host.dir).name, 'h1');
  });

  it('pki - the identity is read from the SAN URI only', () => {
    assert.deepEqual(identityOfSan('DNS:h1, URI:ferry://host/h1, IP Address:10.0.0.1'), {
      role: 'host',
      name: 'h1',
    });
    assert.equal(identityOfSan('DNS:ferry://host/h1'), undefined);
    assert.equal(identityOfSan('URI:ferry://root/h1'), undefined);
    assert.equal(identityOfSan('URI:ferry://host/H1'), undefined);
    assert.equal(identityOfSan(undefined), undefined);
  });

  it('pki - a mutual TLS handshake between two identities of one CA sees the client by name', async () => {
    const operator = issueIdentitySync(cfg, { role: 'operator', name: 'alice' });
    assert.deepEqual(await handshake(host, operator), { seenByServer: 'operator/alice' });
  });

  it('pki - a client certified by another cluster CA is refused at the handshake', async () => {
    const foreign = issueIdentitySync(cfgAt('b'), { role: 'host', name: 'h1' });
    const result = await handshake(host, foreign);
    assert.ok(result.error, 'the handshake must fail');
    assert.equal(result.seenByServer, undefined);
  });

  it('pki - a bundle whose key is not its certificate’s is refused on load', () => {
    const other = issueIdentitySync(cfg, { role: 'host', name: 'h2' });
    const mixed = join(root, 'mixed');
    issueIdentitySync(cfg, { role: 'host', name: 'h3' }, mixed);
    copyFileSync(other.keyPath, join(mixed, 'key.pem'));
    assert.throws(
      () => readBundle(mixed),
      (err) => err instanceof PkiError && /does not belong/.test(err.message),
    );
  });

  it('pki - without a bundle or a CA key, loading says which command makes one', () => {
    const bare = cfgAt('bare');
    assert.throws(
      () => loadIdentitySync(bare, 'host', 'h9'),
      (err) => err instanceof PkiError && /ferry pki issue host h9/.test(err.hint ?? ''),
    );
  });

  it('pki - FERRY_IDENTITY_DIR of another role is refused', () => {
    const c = { ...cfg, identityDir: host.dir };
    assert.throws(
      () => loadIdentitySync(c, 'controller', 'c1'),
      (err) => err instanceof PkiError && /host h1/.test(err.message),
    );
    assert.equal(loadIdentitySync(c, 'host', 'h1').dir, host.dir);
  });

  it('pki - a service certificate carries every address clients dial, and is reissued when one is added', () => {
    const svc = serviceIdentitySync(cfg, 'redis');
    assert.equal(svc.role, 'service');
    const moved = { ...cfg, redis: { ...cfg.redis, url: 'rediss://10.77.0.1:16379' } };
    const again = serviceIdentitySync(moved, 'redis');
    assert.notDeepEqual(again.cert, svc.cert);
    assert.match(new X509Certificate(again.cert).subjectAltName ?? '', /IP Address:10\.77\.0\.1/);
  });
});

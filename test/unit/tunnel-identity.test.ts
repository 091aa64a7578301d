import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { tunnelTls } from '../../hosts/agent/tunnel-identity.ts';
import { hostOfCertificate } from '../../hosts/tunnel/tls.ts';
import { loadConfig } from '../../infra/config.ts';
import { initCaSync, issueIdentitySync, PkiError } from '../../infra/pki/index.ts';

let dir: string;
before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ferry-tunnel-identity-'));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

test('tunnel identity - security off: no TLS, and nothing is issued', () => {
  assert.equal(tunnelTls(loadConfig({ FERRY_STATE_DIR: join(dir, 'off') }), 'h1'), undefined);
});

test("tunnel identity - security on: the agent's own host certificate, issued where the CA is", () => {
  const cfg = loadConfig({ FERRY_STATE_DIR: join(dir, 'on'), FERRY_SECURITY: 'on' });
  initCaSync(cfg); // as `ferry stack up` does on the CA's machine
  const tls = tunnelTls(cfg, 'h1');
  assert.ok(tls);
  assert.equal(hostOfCertificate(new X509Certificate(tls.cert)), 'h1');
  assert.equal(
    hostOfCertificate(new X509Certificate(tunnelTls(cfg, 'h2')!.cert)),
    'h2',
    'each agent its own',
  );
});

test('tunnel identity - a bundle (FERRY_IDENTITY_DIR) of another host stops the agent with one line', () => {
  const state = join(dir, 'bundle');
  const other = issueIdentitySync(loadConfig({ FERRY_STATE_DIR: state }), { role: 'host', name: 'h9' });
  const cfg = loadConfig({ FERRY_STATE_DIR: state, FERRY_SECURITY: 'on', FERRY_IDENTITY_DIR: other.dir });
  assert.throws(
    () => tunnelTls(cfg, 'h1'),
    (err: unknown) => err instanceof PkiError && /host h9, but this agent is h1/.test(err.message),
  );
});

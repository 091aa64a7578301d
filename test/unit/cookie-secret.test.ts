// The cluster secret: from FERRY_CLUSTER_SECRET when set, else minted once in the state dir, and
// the same for every process that races to mint it.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { pathToFileURL } from 'node:url';
import { CLUSTER_SECRET_FILE, ClusterSecretError, loadClusterSecret } from '../../protocol/cookie/index.ts';
import { ConfigError, loadConfig } from '../../infra/config.ts';

const SECRET_MODULE = pathToFileURL(
  join(import.meta.dirname, '..', '..', 'protocol', 'cookie', 'secret.ts'),
).href;

function tempStateDir(t: { after: (fn: () => void) => void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'ferry-cookie-secret-'));
  t.after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

test('cookie secret - minted on first use, private, then read back', (t) => {
  const stateDir = join(tempStateDir(t), 'not-yet-created');
  const cfg = loadConfig({ FERRY_STATE_DIR: stateDir });
  const first = loadClusterSecret(cfg);
  const file = join(stateDir, CLUSTER_SECRET_FILE);
  assert.match(readFileSync(file, 'utf8'), /^[0-9a-f]{64}\n$/);
  assert.equal(statSync(file).mode & 0o777, 0o600);
  assert.deepEqual(first, Buffer.from(readFileSync(file, 'utf8').trim()));
  assert.deepEqual(loadClusterSecret(cfg), first);
  assert.deepEqual(readdirSync(stateDir), [CLUSTER_SECRET_FILE], 'no temporary file left behind');
});

test('cookie secret - FERRY_CLUSTER_SECRET wins over the file, and signs like the same text in it', (t) => {
  const stateDir = tempStateDir(t);
  const text = 'x'.repeat(40);
  const fromEnv = loadClusterSecret(loadConfig({ FERRY_STATE_DIR: stateDir, FERRY_CLUSTER_SECRET: text }));
  assert.deepEqual(readdirSync(stateDir), [], 'no file minted when the environment has the secret');
  writeFileSync(join(stateDir, CLUSTER_SECRET_FILE), `${text}\n`);
  assert.deepEqual(loadClusterSecret(loadConfig({ FERRY_STATE_DIR: stateDir })), fromEnv);
});

test('cookie secret - a short secret is refused, and never echoed', (t) => {
  const stateDir = tempStateDir(t);
  assert.throws(
    () => loadConfig({ FERRY_STATE_DIR: stateDir, FERRY_CLUSTER_SECRET: 'hunter2' }),
    (err: unknown) =>
      err instanceof ConfigError &&
      /FERRY_CLUSTER_SECRET/.test(err.message) &&
      !err.message.includes('hunter2'),
  );
  writeFileSync(join(stateDir, CLUSTER_SECRET_FILE), 'too short\n');
  assert.throws(() => loadClusterSecret(loadConfig({ FERRY_STATE_DIR: stateDir })), ClusterSecretError);
});

test('cookie secret - processes racing to mint it all get the same one', async (t) => {
  const stateDir = tempStateDir(t);
  // Each child waits for the same instant, so their mints overlap despite uneven start-up times.
  const startAt = Date.now() + 3000;
  const script = [
    `import { loadClusterSecret } from ${JSON.stringify(SECRET_MODULE)};`,
    `await new Promise((resolve) => setTimeout(resolve, ${startAt} - Date.now()));`,
    `process.stdout.write(loadClusterSecret({ stateDir: ${JSON.stringify(stateDir)} }).toString('hex'));`,
  ].join('\n');
  const run = () =>
    new Promise<string>((resolve, reject) => {
      const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
        stdio: ['ignore', 'pipe', 'inherit'],
      });
      let out = '';
      child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
      child.on('error', reject);
      child.on('exit', (code) => (code === 0 ? resolve(out) : reject(new Error(`child exited ${code}`))));
    });
  const secrets = await Promise.all(Array.from({ length: 8 }, run));
  assert.equal(new Set(secrets).size, 1, 'every process read the same secret');
  assert.equal(
    secrets[0],
    Buffer.from(readFileSync(join(stateDir, CLUSTER_SECRET_FILE), 'utf8').trim()).toString('hex'),
  );
  assert.deepEqual(readdirSync(stateDir), [CLUSTER_SECRET_FILE]);
});

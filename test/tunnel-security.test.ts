// The data plane with FERRY_SECURITY=on, end to end, on a stack of this file's own (fresh state
// dir and cluster CA, free ports, every service with TLS and credentials): two agents migrate a
// guest through their mutual-TLS tunnel, and a live agent's data port gives nothing to a client
// without a certificate or with one of another CA, turns away an authenticated peer that is not a
// migration's source (another host, an operator), logs each refusal, and still migrates after.
// The refusals of a stolen token (right certificate, wrong or spent token) are driven on the
// listener itself in test/unit/tunnel-mtls.test.ts, where the token is at hand.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { connect as connectTcp, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { connect as connectTls } from 'node:tls';
import { setTimeout as sleep } from 'node:timers/promises';
import { runHostOperation } from '../cli/host-operation.ts';
import { encodeFrame } from '../hosts/tunnel/frame.ts';
import { newToken } from '../hosts/tunnel/tickets.ts';
import { loadConfig, type Config } from '../infra/config.ts';
import { adminIdentity, caPaths, issueIdentitySync, useIdentity } from '../infra/pki/index.ts';
import { createRedis } from '../infra/redis/client.ts';
import { ensureKeyrings } from '../infra/redis/keyring.ts';
import { stackDown, stackUp } from '../infra/stack/stack.ts';
import { ferry } from '../lab/cli.ts';
import { startTestController, type TestController } from '../lab/migrate.ts';
import { uniqueName } from '../lab/stack.ts';
import { freePort } from '../infra/process/port.ts';

const ADDRESSES = ['127.0.0.61', '127.0.0.62'] as const;

let root: string;
let cfg: Config;
let ctl: TestController | undefined;
const hosts: { name: string; address: string; port: number; log: string }[] = [];
const guests: string[] = [];
const saved = { ...process.env };

before(async () => {
  root = mkdtempSync(join(tmpdir(), 'ferry-tunnel-security-'));
  const env: Record<string, string> = {
    FERRY_SECURITY: 'on',
    FERRY_STATE_DIR: join(root, 'state'),
    FERRY_CACHE_DIR: loadConfig().cacheDir,
  };
  for (const name of [
    'FERRY_TEMPORAL_PORT',
    'FERRY_TEMPORAL_UI_PORT',
    'FERRY_TEMPORAL_BACKEND_PORT',
    'FERRY_KAFKA_PORT',
    'FERRY_KAFKA_CONTROLLER_PORT',
    'FERRY_REDIS_PORT',
    'FERRY_CODEC_PORT',
  ]) {
    env[name] = String(await freePort('127.0.0.1'));
  }
  delete process.env.FERRY_IDENTITY_DIR;
  // The CLI this file runs (host start, guest start) and this process both use this stack.
  Object.assign(process.env, env);
  cfg = loadConfig();
  await stackUp(cfg, () => undefined);
  // The keyrings' first keys, as an operator (the stack's admin here) makes them at first start.
  const redis = createRedis(cfg, 'test-tunnel-security', { identity: adminIdentity(cfg) });
  try {
    await ensureKeyrings(redis);
  } finally {
    redis.disconnect();
  }
  // This process runs the migration workflows: a controller's identity (its events are signed).
  useIdentity('controller', 'tunnel-security');
  for (const address of ADDRESSES) {
    const name = uniqueName('tls');
    const port = await freePort(address);
    const r = await ferry(
      'host',
      'start',
      name,
      '--address',
      address,
      '--data-port',
      String(port),
      '--memory',
      '1024',
      '--detach',
      '--json',
    );
    assert.equal(r.status, 0, r.stderr);
    hosts.push({ name, address, port, log: (JSON.parse(r.stdout) as { log: string }).log });
  }
  ctl = await startTestController(cfg);
});

after(async () => {
  await ctl?.stop().catch(() => undefined);
  for (const vm of guests) {
    for (const h of hosts)
      await runHostOperation(cfg, h.name, 'killGuest', vm, 'test cleanup').catch(() => undefined);
  }
  for (const h of hosts) await ferry('host', 'stop', h.name);
  if (cfg) await stackDown(cfg, () => undefined);
  for (const key of Object.keys(process.env)) if (!(key in saved)) delete process.env[key];
  Object.assign(process.env, saved);
  rmSync(root, { recursive: true, force: true });
});

async function migrate(vm: string, from: number, to: number): Promise<void> {
  const report = await ctl!.run({
    vm,
    source: hosts[from]!.name,
    destination: hosts[to]!.name,
    maxDowntimeMs: 300,
    progressTimeoutMs: 30_000,
  });
  assert.equal(report.outcome, 'completed', JSON.stringify(report.firstError));
  assert.ok(report.digests.source, 'the source digested its memory at the stop');
  assert.equal(report.digests.destination, report.digests.source, 'the memory arrived intact');
  const status = await runHostOperation(cfg, hosts[to]!.name, 'guestStatus', vm);
  assert.deepEqual([status.status, status.running], ['running', true]);
}

/** What a hand-made client read before the agent closed the connection (within 10 s). */
function probe(tls: { ca?: Buffer; cert?: Buffer; key?: Buffer } | null, bytes: Buffer): Promise<Buffer> {
  const { address: host, port } = hosts[1]!;
  const socket: Socket = tls
    ? connectTls({ host, port, ...tls, checkServerIdentity: () => undefined })
    : connectTcp({ host, port });
  const chunks: Buffer[] = [];
  socket.on(tls ? 'secureConnect' : 'connect', () => socket.write(bytes));
  socket.on('data', (c: Buffer) => chunks.push(c));
  socket.on('error', () => undefined);
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error('the agent did not close the connection within 10 s'));
    }, 10_000);
    socket.once('close', () => {
      clearTimeout(timer);
      resolve(Buffer.concat(chunks));
    });
  });
}

/** Waits (10 s at most) until the agent's log has `n` lines matching `pattern`. */
async function logged(log: string, pattern: RegExp, n: number): Promise<string[]> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const lines = readFileSync(log, 'utf8')
      .split('\n')
      .filter((l) => pattern.test(l));
    if (lines.length >= n) return lines;
    if (Date.now() > deadline) assert.fail(`${log} has ${lines.length} of ${n} lines matching ${pattern}`);
    await sleep(100);
  }
}

test('tunnel security - a guest migrates between two agents through their mutual-TLS tunnel with its memory intact', async () => {
  const vm = uniqueName('vm');
  guests.push(vm);
  const r = await ferry(
    'guest',
    'start',
    vm,
    '--host',
    hosts[0]!.name,
    '--memory',
    '64',
    '--dirty-rate',
    '500',
  );
  assert.equal(r.status, 0, r.stderr);
  await migrate(vm, 0, 1);
});

test("tunnel security - a live agent's data port gives nothing without a valid certificate, refuses peers that are no migration's source, and logs each", async () => {
  const header = encodeFrame({ version: 1, migrationId: 'm-not-yours', token: newToken() });
  const ca = readFileSync(caPaths(cfg).cert);
  assert.equal((await probe(null, header)).length, 0, 'plain TCP: no answer');
  assert.equal((await probe({ ca }, header)).length, 0, 'TLS without a certificate: no answer');
  const otherRoot = mkdtempSync(join(tmpdir(), 'ferry-tunnel-security-other-'));
  try {
    const foreign = issueIdentitySync(loadConfig({ ...process.env, FERRY_STATE_DIR: otherRoot }), {
      role: 'host',
      name: hosts[0]!.name,
    });
    const read = await probe({ ca, cert: foreign.cert, key: foreign.key }, header);
    assert.equal(read.length, 0, "another CA's certificate naming the source host: no answer");
  } finally {
    rmSync(otherRoot, { recursive: true, force: true });
  }
  const log = hosts[1]!.log;
  await logged(log, /refused a tunnel connection: tls-handshake-failed/, 3);
  // Authenticated, but not the source of any migration here: an answer that says only that.
  const intruder = issueIdentitySync(cfg, { role: 'host', name: uniqueName('intruder') });
  const asHost = await probe({ ca, cert: intruder.cert, key: intruder.key }, header);
  assert.match(asHost.toString(), /"ok":false,"reason":"unknown-migration"/);
  const operator = issueIdentitySync(cfg, { role: 'operator', name: 'mallory' });
  const asOperator = await probe({ ca, cert: operator.cert, key: operator.key }, header);
  assert.match(asOperator.toString(), /"ok":false,"reason":"wrong-peer"/);
  const [line] = await logged(log, /refused a tunnel connection: wrong-peer/, 1);
  assert.match(line!, /remote=127\.0\.0\.1:\d+/);
  await logged(
    log,
    new RegExp(`refused a tunnel connection: unknown-migration.*peerHost=${intruder.name}`),
    1,
  );
  // Nothing changed: the guest goes back over the same tunnel.
  const vm = uniqueName('vm');
  guests.push(vm);
  const r = await ferry(
    'guest',
    'start',
    vm,
    '--host',
    hosts[0]!.name,
    '--memory',
    '64',
    '--dirty-rate',
    '0',
  );
  assert.equal(r.status, 0, r.stderr);
  await migrate(vm, 0, 1);
});

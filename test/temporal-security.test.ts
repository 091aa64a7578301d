// Temporal behind its TLS front (docs/temporal-tls.md), with FERRY_SECURITY=on, on a Temporal of
// this file's own: a fresh state dir (its own cluster CA), free ports, and a bind address that is
// not 127.0.0.1, so "the plaintext server is not on the bind address" can be told from "it is on
// loopback". Only the dev server and its front are started (not Redis or Kafka): what is tested is
// who gets through the front. A worker and a client with the cluster's certificates run a
// workflow through it; a client without a certificate, with another CA's, or without TLS can
// neither list nor start workflows, and nothing it asked for happened.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, readlinkSync, mkdtempSync, rmSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { Client, Connection, WorkflowNotFoundError, type TLSConfig } from '@temporalio/client';
import { Worker } from '@temporalio/worker';
import { loadConfig, type Config } from '../infra/config.ts';
import { routeTemporalLogs } from '../infra/logging/libraries.ts';
import { createLogger } from '../infra/logging/logger.ts';
import { adminIdentity, issueIdentitySync, useIdentity } from '../infra/pki/index.ts';
import { servicePidFile, startService, stopService } from '../infra/stack/stack.ts';
import { connectTemporal } from '../infra/temporal/connect.ts';
import { connectWorker } from '../infra/temporal/connect-worker.ts';
import { TEMPORAL_TLS_NAME, tlsOf } from '../infra/temporal/tls.ts';
import { uniqueName } from '../lab/stack.ts';
import { greetWorkflow, releaseSignal, waitForSignalWorkflow } from './fixtures/workflows.ts';
import { freePort } from '../infra/process/port.ts';

/** Loopback, but not 127.0.0.1 where the dev server listens. */
const BIND_HOST = '127.0.15.1';

let root: string;
let cfg: Config;
let admin: Client;
const taskQueue = uniqueName('temporal-security');

before(async () => {
  root = mkdtempSync(join(tmpdir(), 'ferry-temporal-security-'));
  const configured = loadConfig();
  cfg = loadConfig({
    ...process.env,
    FERRY_SECURITY: 'on',
    FERRY_BIND_HOST: BIND_HOST,
    FERRY_STATE_DIR: join(root, 'state'),
    FERRY_CACHE_DIR: configured.cacheDir,
    FERRY_TEMPORAL_PORT: String(await freePort(BIND_HOST)),
    FERRY_TEMPORAL_BACKEND_PORT: String(await freePort('127.0.0.1')),
    FERRY_TEMPORAL_UI_PORT: String(await freePort('127.0.0.1')),
  });
  routeTemporalLogs(createLogger('test-temporal-security', 'error'));
  useIdentity('operator', 'operator');
  for (const name of ['temporal', 'temporal-front'] as const) {
    const up = await startService(cfg, name, () => undefined);
    assert.equal(up.outcome, 'started', `${name} is this file's own`);
  }
  const connection = await Connection.connect({
    address: cfg.temporal.address,
    tls: tlsOf(adminIdentity(cfg)),
  });
  admin = new Client({ connection, namespace: cfg.temporal.namespace });
});

// Runs even when a test failed: the front, then the server, by their pid files; then the dir.
after(async () => {
  await admin?.connection.close();
  for (const name of ['temporal-front', 'temporal'] as const) {
    if (cfg && servicePidFile(cfg, name)) await stopService(cfg, name, () => undefined);
  }
  rmSync(root, { recursive: true, force: true });
});

/** A client of the front with these TLS settings (or none), connected only when first used. */
function clientWith(tls: TLSConfig | undefined): Client {
  const connection = Connection.lazy({
    address: cfg.temporal.address,
    connectTimeout: 5000,
    // No retries: the SDK's default interceptor retries UNAVAILABLE (and INTERNAL, which nginx's
    // 400 becomes) for ~40 s; a refusal is a refusal the first time.
    interceptors: [],
    ...(tls ? { tls } : {}),
  });
  return new Client({ connection, namespace: cfg.temporal.namespace });
}

/** The request never reached the server: the list and the start fail, and no such workflow exists. */
async function assertRefused(client: Client, why: RegExp): Promise<void> {
  const workflowId = uniqueName('refused');
  try {
    await assert.rejects(
      async () => {
        for await (const _ of client.workflow.list()) break;
      },
      (err: Error & { cause?: { details?: string } }) => why.test(`${err.cause?.details ?? err.message}`),
      'listing workflows is refused',
    );
    await assert.rejects(
      client.workflow.start(greetWorkflow, { taskQueue, workflowId, args: ['mallory'] }),
      (err: Error & { cause?: { details?: string } }) => why.test(`${err.cause?.details ?? err.message}`),
      'starting a workflow is refused',
    );
  } finally {
    await client.connection.close();
  }
  await assert.rejects(admin.workflow.getHandle(workflowId).describe(), WorkflowNotFoundError);
}

test('temporal security - a worker and a client with cluster certificates run a workflow through the TLS front', async () => {
  const worker = await Worker.create({
    connection: await connectWorker(cfg),
    namespace: cfg.temporal.namespace,
    taskQueue,
    workflowsPath: join(import.meta.dirname, 'fixtures', 'workflows.ts'),
    activities: { greet: (name: string) => Promise.resolve(`hello, ${name}`) },
  });
  // The client's connection as the CLI's, without the payload codec (its keys are in Redis,
  // which this file does not start).
  const client = new Client({ connection: await connectTemporal(cfg), namespace: cfg.temporal.namespace });
  try {
    const result = await worker.runUntil(
      client.workflow.execute(greetWorkflow, { taskQueue, workflowId: uniqueName('greet'), args: ['ferry'] }),
    );
    assert.equal(result, 'hello, ferry');
  } finally {
    await client.connection.close();
  }
});

test('temporal security - a client without a certificate can neither list nor start workflows', async () => {
  const ca = adminIdentity(cfg).ca;
  // TLS, and the front's certificate checked, but no certificate of its own: nginx answers 400.
  await assertRefused(
    clientWith({ serverNameOverride: TEMPORAL_TLS_NAME, serverRootCACertificate: ca }),
    /HTTP status code 400/,
  );
  // No TLS at all: the front speaks nothing else.
  await assertRefused(clientWith(undefined), /No connection established/);
});

test('temporal security - a certificate from another CA is refused, and a front it trusts is not this one', async () => {
  // Another cluster's CA, made in a state dir of its own: a valid certificate, of the wrong cluster.
  const other = loadConfig({ ...process.env, FERRY_STATE_DIR: join(root, 'other-cluster') });
  const mallory = issueIdentitySync(other, { role: 'operator', name: 'mallory' });
  const ca = adminIdentity(cfg).ca;
  await assertRefused(
    clientWith({
      serverNameOverride: TEMPORAL_TLS_NAME,
      serverRootCACertificate: ca,
      clientCertPair: { crt: mallory.cert, key: mallory.key },
    }),
    /HTTP status code 400/,
  );
  // The other way round: a client of the other cluster does not take this front for its own.
  await assertRefused(clientWith(tlsOf(mallory)), /unable to verify the first certificate/);
});

/** The local addresses (ip:port) of the TCP sockets a process listens on, from /proc. */
function listeningAddresses(pid: number): string[] {
  const inodes = new Set<string>();
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    try {
      const link = readlinkSync(`/proc/${pid}/fd/${fd}`);
      const inode = /^socket:\[(\d+)\]$/.exec(link)?.[1];
      if (inode) inodes.add(inode);
    } catch {
      // an fd closed while we read the directory
    }
  }
  const addresses: string[] = [];
  for (const line of readFileSync('/proc/net/tcp', 'utf8').split('\n').slice(1)) {
    const f = line.trim().split(/\s+/);
    // local_address is at 1 (hex, little-endian IPv4), st at 3 (0A: LISTEN), inode at 9.
    if (f.length < 10 || f[3] !== '0A' || !inodes.has(f[9]!)) continue;
    const [ipHex, portHex] = f[1]!.split(':') as [string, string];
    const ip = (ipHex.match(/../g) ?? []).reverse().map((b) => parseInt(b, 16));
    addresses.push(`${ip.join('.')}:${parseInt(portHex, 16)}`);
  }
  return addresses;
}

test("temporal security - the dev server's plaintext port is not reachable on the bind address", async () => {
  const refused = await new Promise<string>((resolve) => {
    const socket = connect({ host: BIND_HOST, port: cfg.temporal.backendPort });
    socket.once('connect', () => {
      socket.destroy();
      resolve('connected');
    });
    socket.once('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? err.message));
  });
  assert.equal(refused, 'ECONNREFUSED', `${BIND_HOST}:${cfg.temporal.backendPort}`);

  // Every port of the dev server (gRPC, UI, HTTP API, internal services) is on 127.0.0.1, and the
  // front listens on the bind address alone.
  const server = servicePidFile(cfg, 'temporal');
  const front = servicePidFile(cfg, 'temporal-front');
  assert.ok(server && front, 'both run under pid files');
  const serverPorts = listeningAddresses(server.pid);
  assert.ok(serverPorts.includes(`127.0.0.1:${cfg.temporal.backendPort}`), serverPorts.join(' '));
  assert.deepEqual(
    serverPorts.filter((a) => !a.startsWith('127.0.0.1:')),
    [],
    'no port of the dev server is off 127.0.0.1',
  );
  assert.deepEqual(listeningAddresses(front.pid), [`${BIND_HOST}:${cfg.temporal.port}`]);
});

test('temporal security - while the server restarts the front answers UNAVAILABLE, which clients retry, and then passes calls again', async () => {
  // No retries on this connection, so the front's own answer is seen.
  const connection = await Connection.connect({
    address: cfg.temporal.address,
    tls: tlsOf(adminIdentity(cfg)),
    interceptors: [],
  });
  try {
    await stopService(cfg, 'temporal', () => undefined);
    await assert.rejects(
      connection.workflowService.describeNamespace({ namespace: cfg.temporal.namespace }),
      (err: Error & { code?: number; details?: string }) =>
        err.code === 14 && /unavailable behind the ferry TLS front/.test(err.details ?? ''),
    );
    assert.equal((await startService(cfg, 'temporal', () => undefined)).outcome, 'started');
    const ns = await connection.workflowService.describeNamespace({ namespace: cfg.temporal.namespace });
    assert.equal(ns.namespaceInfo?.name, cfg.temporal.namespace);
  } finally {
    await connection.close();
  }
});

test("temporal security - a host's certificate may describe and signal but not start, terminate or administer", async () => {
  const host = issueIdentitySync(cfg, { role: 'host', name: uniqueName('h') });
  const connection = await Connection.connect({
    address: cfg.temporal.address,
    tls: tlsOf(host),
    interceptors: [],
  });
  const asHost = new Client({ connection, namespace: cfg.temporal.namespace });
  // A workflow the operator started, waiting for a signal: the host may signal and describe it.
  const workflowId = uniqueName('held');
  const held = await admin.workflow.start(waitForSignalWorkflow, { taskQueue, workflowId });
  try {
    const ns = await connection.workflowService.describeNamespace({ namespace: cfg.temporal.namespace });
    assert.equal(ns.namespaceInfo?.name, cfg.temporal.namespace);
    await asHost.workflow.getHandle(workflowId).signal(releaseSignal);
    assert.equal((await asHost.workflow.getHandle(workflowId).describe()).status.name, 'RUNNING');

    const denied = (err: Error & { cause?: { code?: number; details?: string } }) =>
      err.cause?.code === 7 && /is not for a host certificate/.test(err.cause.details ?? '');
    await assert.rejects(
      asHost.workflow.start(greetWorkflow, { taskQueue, workflowId: uniqueName('by-host'), args: ['x'] }),
      denied,
    );
    await assert.rejects(asHost.workflow.getHandle(workflowId).terminate('by a host'), denied);
    await assert.rejects(asHost.workflow.getHandle(workflowId).cancel(), denied);
    await assert.rejects(
      connection.operatorService.listSearchAttributes({ namespace: cfg.temporal.namespace }),
      (err: Error & { code?: number }) => err.code === 7,
    );
    // The operator's certificate may do what the host's may not.
    await held.terminate('the test is done');
    assert.equal((await held.describe()).status.name, 'TERMINATED');
  } finally {
    await connection.close();
  }
});

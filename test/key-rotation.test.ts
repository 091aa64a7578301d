// Keys rotating under a real cluster (a stack of this file's own, the keyring on; security as the
// environment says, off by default): a migration during which `ferry secret rotate` replaces both
// keys completes, the next one is signed and encrypted under the new keys, and neither history
// holds a token, an address, the lockstate or a cookie in clear, while the codec (in process, and
// `ferry codec serve` over HTTP as the Temporal UI asks it) still reads every payload back, old
// keys included.
// exclusive: a stack of its own (Temporal, Kafka, Redis) on top of the shared one
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Payload } from '@temporalio/common';
import { rotate } from '../cli/secret.ts';
import { replayMigrationHistories } from '../events/history-replay.ts';
import { loadConfig, type Config } from '../infra/config.ts';
import { loadIdentitySync, useIdentity } from '../infra/pki/index.ts';
import { KEYRING_REFRESH_MS } from '../infra/redis/keyring.ts';
import { dataConverter } from '../infra/temporal/data-converter.ts';
import { ENCRYPTED_ENCODING, KEY_ID_METADATA, isEncrypted } from '../infra/temporal/payload-codec.ts';
import { twoAgents, type TwoAgents } from '../lab/agents.ts';
import { startTestController, type TestController } from '../lab/migrate.ts';
import { uniqueName } from '../lab/stack.ts';
import { progress } from '../workflows/migration/messages.ts';
import { privateStack, type PrivateStack } from './support/private-stack.ts';

const CLI = join(import.meta.dirname, '..', 'cli', 'bin.mjs');
const COOKIE = /\b(?:([0-9a-f]{8})\.)?([A-Za-z0-9_-]{40,})\.[A-Za-z0-9_-]{43}\b/g;
const ADDRESSES = ['127.0.24.1', '127.0.24.2'] as const;

let stack: PrivateStack;
let cfg: Config;
let agents: TwoAgents;
let ctl: TestController;
let codecServer: ChildProcess | undefined;

before(async () => {
  stack = await privateStack('key-rotation');
  // The agents, the controller and every `ferry` the test runs use this stack, with the keyring on.
  Object.assign(process.env, stack.env, { FERRY_KEYRING: 'on' });
  cfg = loadConfig();
  assert.equal(cfg.keyring.enabled, true);
  const up = await stack.ferry('stack', 'up');
  assert.equal(up.status, 0, up.stderr);
  // FERRY_SECURITY=on: the in-process controller (and this process's reads) as a controller.
  if (cfg.security.enabled) useIdentity('controller', uniqueName('key-rotation'));
  agents = await twoAgents(cfg, ADDRESSES, { memoryMiB: 512 });
  ctl = await startTestController(cfg);
});

after(async () => {
  if (codecServer?.pid !== undefined && codecServer.exitCode === null) {
    process.kill(codecServer.pid, 'SIGTERM');
    await once(codecServer, 'exit');
  }
  await ctl?.stop();
  await agents?.stop();
  await stack?.dispose();
});

const text = (b: Uint8Array | null | undefined) => Buffer.from(b ?? new Uint8Array()).toString('utf8');

/** Every payload anywhere in a history (inputs, results, signals, failures' details), by path. */
function payloadsOf(node: unknown, path = '', out: { path: string; payload: Payload }[] = []) {
  if (node === null || typeof node !== 'object' || node instanceof Uint8Array) return out;
  const o = node as Record<string, unknown>;
  if (o.data instanceof Uint8Array && typeof o.metadata === 'object' && o.metadata !== null) {
    out.push({ path, payload: o });
    return out;
  }
  for (const [key, value] of Object.entries(o)) payloadsOf(value, `${path}.${key}`, out);
  return out;
}

/**
 * What Temporal writes itself, not through the codec: the search attribute and the marker that
 * `patched()` records (patch ids), and a local activity marker's own data (its type, attempt and
 * time; its result goes through the codec). The server indexes the first, the SDK's core makes the
 * others. The search for secrets below reads these too.
 */
const UNCODED =
  /\.searchAttributes\.|\.upsertWorkflowSearchAttributesEventAttributes\.|\.markerRecordedEventAttributes\.details\.(patch-data|data)\./;

async function rawHistory(workflowId: string): Promise<Payload[]> {
  const history = await ctl.client.workflow.getHandle(workflowId).fetchHistory();
  const all = payloadsOf(history);
  const plain = all.filter(({ path, payload }) => !UNCODED.test(path) && !isEncrypted(payload));
  assert.deepEqual(
    plain.map((p) => p.path),
    [],
    `${workflowId}: payloads the codec did not encrypt`,
  );
  return all.filter(({ path }) => !UNCODED.test(path)).map((p) => p.payload);
}

/** Everything Temporal stores of a history's payloads, encrypted or not, as one string to search. */
async function storedBytes(workflowId: string): Promise<string> {
  const history = await ctl.client.workflow.getHandle(workflowId).fetchHistory();
  return Buffer.concat(
    payloadsOf(history).flatMap(({ payload: p }) => [
      Buffer.from(p.data!),
      ...Object.values(p.metadata ?? {}).map((v) => Buffer.from(v)),
    ]),
  ).toString('latin1');
}

/** What the migration's cookies carried: their wires, key ids, tunnel tokens and hosts. */
function cookiesIn(decoded: Payload[]): {
  wires: string[];
  keyIds: Set<string>;
  tokens: string[];
  hosts: string[];
} {
  const found = {
    wires: [] as string[],
    keyIds: new Set<string>(),
    tokens: [] as string[],
    hosts: [] as string[],
  };
  for (const p of decoded) {
    for (const m of text(p.data).matchAll(COOKIE)) {
      let body: { tunnel?: { token?: string; host?: string }; phase?: string } | null;
      try {
        body = JSON.parse(Buffer.from(m[2]!, 'base64url').toString('utf8')) as typeof body;
      } catch {
        continue; // base64url text that is not a cookie
      }
      if (typeof body?.phase !== 'string') continue;
      found.wires.push(m[0]);
      found.keyIds.add(m[1] ?? '');
      if (body.tunnel?.token) found.tokens.push(body.tunnel.token);
      if (body.tunnel?.host) found.hosts.push(body.tunnel.host);
    }
  }
  return found;
}

async function migrate(vm: string, source: string, destination: string, onPerform?: () => Promise<void>) {
  const handle = await ctl.start({
    vm,
    source,
    destination,
    maxDowntimeMs: 300,
    // The agents' own cap on the tunnel: Perform lasts several seconds, the rotation lands in it.
    ...(onPerform ? { tunnelBandwidthMiBps: 1 } : {}),
    progressTimeoutMs: 60_000,
  });
  let duringPerform: number | undefined;
  if (onPerform) {
    const p = await ctl.waitFor(handle, (v) => v.phase === 'perform' || v.state === 'done', 60_000);
    assert.equal(p.phase, 'perform', 'caught the migration in Perform');
    await onPerform();
    duringPerform = Date.now();
  }
  const report = await handle.result();
  if (duringPerform !== undefined) {
    const perform = (await handle.query(progress)).phases.find((x) => x.name === 'perform');
    assert.ok(
      perform?.endedAt && Date.parse(perform.endedAt) > duringPerform,
      `Perform (ended ${perform?.endedAt}) outlasted the rotation (${new Date(duringPerform).toISOString()})`,
    );
  }
  assert.equal(report.outcome, 'completed', JSON.stringify(report.firstError));
  assert.equal(report.digests.destination, report.digests.source, 'memory intact');
  return handle.workflowId;
}

/**
 * `ferry secret rotate` of both rings, in process (the command's own function: a `ferry` process
 * takes a second to start, longer than some Performs): the new key ids and those they replace.
 */
async function rotateBoth() {
  // Security on, this process is the test's controller, which may only read the rings.
  const operator = cfg.security.enabled ? loadIdentitySync(cfg, 'operator', 'operator') : undefined;
  const out = await rotate(cfg, ['cluster', 'codec'], operator);
  const of = (ring: string) => out.find((x) => x.ring === ring)!;
  const previous = { cluster: of('cluster').previous, codec: of('codec').previous };
  assert.ok(previous.cluster && previous.codec, 'stack up had made the first keys');
  return {
    cluster: of('cluster').id,
    codec: of('codec').id,
    previous: { cluster: previous.cluster, codec: previous.codec },
    at: Date.now(),
  };
}

const decode = (payloads: Payload[]) => dataConverter(cfg)!.payloadCodecs![0]!.decode(payloads);

let firstId: string;
let secondId: string;
let rotated: Awaited<ReturnType<typeof rotateBoth>>;

test('key rotation - both keys rotate during a migration, which completes; the next one uses the new keys', async () => {
  const vm = uniqueName('vm');
  // Dirtying 20 pages/s (80 KiB/s), well under the 1 MiB/s cap: precopy converges, in seconds.
  await agents.startGuest(vm, '--memory', '64', '--dirty-rate', '20');
  firstId = await migrate(vm, agents.source, agents.destination, async () => {
    rotated = await rotateBoth();
  });
  const list = await stack.ferry('secret', 'list', '--json');
  assert.equal(list.status, 0, list.stderr);
  const { keys } = JSON.parse(list.stdout) as { keys: { ring: string; id: string; state: string }[] };
  assert.deepEqual(
    keys.map((k) => `${k.ring} ${k.id} ${k.state}`),
    [
      `cluster ${rotated.previous.cluster} verifying`,
      `cluster ${rotated.cluster} current`,
      `codec ${rotated.previous.codec} decrypting`,
      `codec ${rotated.codec} current`,
    ],
  );
  const first = cookiesIn(await decode(await rawHistory(firstId)));
  assert.ok(first.wires.length >= 4, `the migration's cookies are in its history (${first.wires.length})`);
  assert.ok(first.keyIds.has(rotated.previous.cluster), 'cookies before the rotation were under the old key');

  // Every host has read the ring again by now: the migration back is all under the new keys.
  await sleep(Math.max(0, rotated.at + KEYRING_REFRESH_MS + 1000 - Date.now()));
  secondId = await migrate(vm, agents.destination, agents.source);
  const raw = await rawHistory(secondId);
  assert.deepEqual(
    new Set(raw.map((p) => text(p.metadata?.[KEY_ID_METADATA]))),
    new Set([rotated.codec]),
    'every payload of the second migration is encrypted under the new codec key',
  );
  const second = cookiesIn(await decode(raw));
  assert.ok(second.wires.length >= 4);
  assert.deepEqual(
    second.keyIds,
    new Set([rotated.cluster]),
    'its cookies are signed under the new cluster key',
  );
});

test('key rotation - no cookie, token or address is readable in either history', async () => {
  assert.ok(firstId && secondId, 'the migrations ran');
  for (const id of [firstId, secondId]) {
    const raw = await rawHistory(id);
    assert.ok(raw.length > 10, `${id} has payloads`);
    // Decoded, the cookies are there (so the search below can find them): each carries lockstate,
    // tokens and addresses in its base64url payload, so a cookie absent means all of them absent.
    const { wires, tokens, hosts } = cookiesIn(await decode(raw));
    assert.ok(wires.length >= 4 && tokens.length >= 1, 'the cookies and the tunnel token, decoded');
    assert.ok(
      hosts.some((h) => (ADDRESSES as readonly string[]).includes(h)),
      `addresses ${hosts.join(', ')}`,
    );
    const stored = await storedBytes(id);
    for (const secret of [...wires, ...tokens, ...hosts, ...ADDRESSES, 'lockstate', 'tunnel'])
      assert.ok(!stored.includes(secret), `${secret.slice(0, 24)}… is not in the stored history`);
  }
});

test("key rotation - the audit replays both encrypted histories against today's workflow code", async () => {
  assert.ok(firstId && secondId, 'the migrations ran');
  const replay = await replayMigrationHistories(ctl.client, { ids: [firstId, secondId] });
  assert.deepEqual(replay, { replayed: 2, failures: [] });
});

test("key rotation - ferry codec serve decodes for the UI's origin, old key and new, and refuses other origins", async () => {
  assert.ok(firstId && secondId, 'the migrations ran');
  const port = cfg.codec.port;
  codecServer = spawn(process.execPath, [CLI, 'codec', 'serve', '--address', `127.0.0.1:${port}`], {
    env: process.env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const [line] = (await Promise.race([
    once(codecServer.stdout!, 'data'),
    once(codecServer, 'exit').then(() => [Buffer.from('exited')]),
    sleep(30_000).then(() => [Buffer.from('no answer in 30 s')]),
  ])) as [Buffer];
  assert.match(line.toString(), /codec serving on http:\/\/127\.0\.0\.1:/);
  const url = `http://127.0.0.1:${port}`;
  const ui = `http://127.0.0.1:${cfg.temporal.uiPort}`;
  const raw = [...(await rawHistory(firstId)), ...(await rawHistory(secondId))];
  const keyIds = new Set(raw.map((p) => text(p.metadata?.[KEY_ID_METADATA])));
  assert.deepEqual(
    keyIds,
    new Set([rotated.previous.codec, rotated.codec]),
    'payloads under both codec keys',
  );
  const body = JSON.stringify({
    payloads: raw.map((p) => ({
      metadata: Object.fromEntries(
        Object.entries(p.metadata ?? {}).map(([k, v]) => [k, Buffer.from(v).toString('base64')]),
      ),
      data: Buffer.from(p.data!).toString('base64'),
    })),
  });
  const res = await fetch(`${url}/decode`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', origin: ui, 'x-namespace': cfg.temporal.namespace },
    body,
  });
  assert.equal(res.status, 200, await res.clone().text());
  assert.equal(res.headers.get('access-control-allow-origin'), ui);
  const { payloads } = (await res.json()) as {
    payloads: { metadata: Record<string, string>; data: string }[];
  };
  assert.equal(payloads.length, raw.length);
  for (const p of payloads)
    assert.notEqual(Buffer.from(p.metadata.encoding ?? '', 'base64').toString(), ENCRYPTED_ENCODING);
  assert.equal(
    cookiesIn(payloads.map((p) => ({ data: Buffer.from(p.data, 'base64') }))).tokens.length >= 2,
    true,
    'the tokens of both migrations are readable to the operator',
  );

  const preflight = await fetch(`${url}/decode`, {
    method: 'OPTIONS',
    headers: {
      origin: ui,
      'access-control-request-method': 'POST',
      'access-control-request-headers': 'content-type,x-namespace',
    },
  });
  assert.equal(preflight.status, 204);
  assert.match(preflight.headers.get('access-control-allow-headers') ?? '', /x-namespace/);
  const other = await fetch(`${url}/decode`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', origin: 'http://evil.example' },
    body,
  });
  assert.equal(other.status, 403);
  const bad = await fetch(`${url}/decode`, { method: 'POST', body: '{"payloads": [{"data": 12}]}' });
  assert.equal(bad.status, 400);
  assert.match(((await bad.json()) as { error: string }).error, /payloads\.0\.data/);
});

import assert from 'node:assert/strict';
import { createServer, connect, type Server, type Socket } from 'node:net';
import { after, before, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { createRedis } from '../infra/redis/client.ts';
import { HostRegistry } from '../hosts/agent/registration.ts';
import type { Config } from '../infra/config.ts';
import { runHostOperation } from '../cli/host-operation.ts';
import { ferry } from './support/cli.ts';
import { runMigration } from './support/migrate.ts';
import { realStack, uniqueName } from './support/stack.ts';

const [hostA, hostB] = [uniqueName('host'), uniqueName('host')];
const vms: string[] = [];
let cfg: Config;

before(async () => {
  cfg = await realStack();
  for (const [h, ip] of [
    [hostA, '127.0.0.6'],
    [hostB, '127.0.0.7'],
  ] as const) {
    const r = await ferry('host', 'start', h, '--address', ip, '--memory', '1024', '--detach');
    assert.equal(r.status, 0, r.stderr);
  }
});

after(async () => {
  for (const vm of vms) {
    await runHostOperation(cfg, hostB, 'killGuest', vm, 'test cleanup').catch(() => undefined);
    await ferry('guest', 'kill', vm);
  }
  await ferry('host', 'stop', hostA);
  await ferry('host', 'stop', hostB);
});

/** The small guest of these tests, moved A → B with room to spare: only the fault decides. */
const onePass = (vm: string, via: { host: string; port: number }) => ({
  vm,
  kind: 'emulated' as const,
  memoryMiB: 32,
  source: hostA,
  destination: hostB,
  downtimeLimitMs: 300,
  maxBandwidthBytesPerSec: 64 * 1024 * 1024,
  progressTimeoutMs: 30_000,
  via,
});

async function startGuest(dirtyRate: number): Promise<string> {
  const vm = uniqueName('vm');
  vms.push(vm);
  const r = await ferry(
    'guest',
    'start',
    vm,
    '--host',
    hostA,
    '--memory',
    '32',
    '--dirty-rate',
    String(dirtyRate),
  );
  assert.equal(r.status, 0, r.stderr);
  return vm;
}

/** After a failed migration: the source runs on A and no guest of that name is left on B. */
async function assertRolledBack(vm: string): Promise<void> {
  const src = await runHostOperation(cfg, hostA, 'guestStatus', vm);
  assert.deepEqual([src.status, src.running], ['running', true], 'the source keeps running');
  const deadline = Date.now() + 15_000;
  for (;;) {
    const dst = await runHostOperation(cfg, hostB, 'guestStatus', vm).then(
      () => 'present',
      (err: Error) => err.message,
    );
    if (/no such guest on this host/.test(dst)) break;
    if (Date.now() > deadline) assert.fail(`the destination guest is still there: ${dst}`);
    await sleep(250);
  }
}

test('agent migration faults - a guest that dirties faster than the bandwidth is cancelled after the progress timeout', async () => {
  const vm = await startGuest(20_000);
  await assert.rejects(
    runMigration(cfg, {
      vm,
      kind: 'emulated',
      memoryMiB: 32,
      source: hostA,
      destination: hostB,
      downtimeLimitMs: 50,
      maxBandwidthBytesPerSec: 8 * 1024 * 1024,
      progressTimeoutMs: 3000,
    }),
    (err: Error) => {
      let cause: unknown = err;
      while (cause instanceof Error && cause.cause) cause = cause.cause;
      assert.match(
        (cause as Error).message,
        /no progress for 3000 ms .* cancelled, the guest keeps running here/,
      );
      return true;
    },
  );
  await assertRolledBack(vm);
});

/** A proxy in front of B's data plane: `fault` says what of each chunk to forward, and whether to cut after it. */
async function faultyProxy(fault: (chunk: Buffer, offset: number) => { data: Buffer; cut?: boolean }) {
  const redis = createRedis(cfg, 'test-faults');
  const target = await new HostRegistry(redis).read(hostB);
  redis.disconnect();
  assert.ok(target, 'host B is registered');
  const sockets: Socket[] = [];
  let offset = 0;
  const proxy: Server = createServer((client) => {
    const upstream = connect({ host: target.address, port: target.dataPort });
    sockets.push(client, upstream);
    upstream.pipe(client);
    client.on('data', (chunk: Buffer) => {
      const { data, cut } = fault(chunk, offset);
      offset += chunk.length;
      if (data.length > 0) upstream.write(data);
      if (cut) sockets.forEach((s) => s.destroy());
    });
    client.on('error', () => undefined);
    upstream.on('error', () => undefined);
  });
  await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
  return { proxy, via: { host: '127.0.0.1', port: (proxy.address() as { port: number }).port } };
}

test('agent migration faults - a byte flipped in flight never runs: the migration rolls back', async () => {
  const vm = await startGuest(500);
  const at = 64 * 1024 + Math.floor(Math.random() * 4 * 1024 * 1024);
  let flipped = false;
  const { proxy, via } = await faultyProxy((chunk, offset) => {
    if (at < offset || at >= offset + chunk.length) return { data: chunk };
    const copy = Buffer.from(chunk);
    copy[at - offset] = copy[at - offset]! ^ 0x20;
    flipped = true;
    return { data: copy };
  });
  try {
    await assert.rejects(runMigration(cfg, onePass(vm, via)));
    assert.ok(flipped, `byte ${at} was flipped`);
    await assertRolledBack(vm);
  } finally {
    proxy.close();
  }
});

test('agent migration faults - the stream cut at a random offset fails cleanly on both sides', async () => {
  const vm = await startGuest(500);
  const cutAt = 4096 + Math.floor(Math.random() * 4 * 1024 * 1024);
  let forwarded = 0;
  const { proxy, via } = await faultyProxy((chunk, offset) => {
    const keep = Math.max(0, Math.min(chunk.length, cutAt - offset));
    forwarded += keep;
    return { data: chunk.subarray(0, keep), cut: offset + chunk.length >= cutAt };
  });
  try {
    await assert.rejects(runMigration(cfg, onePass(vm, via)));
    assert.equal(forwarded, cutAt, `the stream was cut at byte ${cutAt}`);
    await assertRolledBack(vm);
  } finally {
    proxy.close();
  }
});

test('agent migration faults - raising the bandwidth on the fly makes a non-converging migration converge', async () => {
  const vm = await startGuest(5_000);
  const migration = runMigration(cfg, {
    vm,
    kind: 'emulated',
    memoryMiB: 32,
    source: hostA,
    destination: hostB,
    downtimeLimitMs: 50,
    maxBandwidthBytesPerSec: 8 * 1024 * 1024,
    progressTimeoutMs: 120_000,
  });
  await sleep(6000); // past the first pass: at 8 MiB/s against ~20 MB/s of dirtying it cannot converge
  await runHostOperation(cfg, hostA, 'setMigrationParameters', vm, {
    maxBandwidthBytesPerSec: 1024 * 1024 * 1024,
  });
  const { result } = await migration;
  assert.equal(result.out.status, 'completed');
  assert.equal(result.arrived.digest, result.out.digest);
  assert.ok(result.out.passes >= 2, `it iterated before converging (${result.out.passes} passes)`);
  // The guest now runs on B: clean it up there (the after hook also tries).
  await runHostOperation(cfg, hostB, 'killGuest', vm, 'test cleanup');
});

// Emulated guests migrating to each other directly over unix sockets (no agents, no services):
// convergence, bandwidth raised on the fly, cancel, a cut stream, switchover-ack and
// pause-before-switchover. Every process is killed by pid and every temp dir removed afterwards.
import assert from 'node:assert/strict';
import { createConnection, createServer } from 'node:net';
import type { Server, Socket } from 'node:net';
import { after, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { finished, setCaps, startGuest, waitMigration } from './support/guest-sim.ts';
import type { TestGuest } from './support/guest-sim.ts';

const started: TestGuest[] = [];
after(async () => {
  await Promise.all(started.map((g) => g.stop()));
});

async function guest(spec: Parameters<typeof startGuest>[0]): Promise<TestGuest> {
  const g = await startGuest(spec);
  started.push(g);
  return g;
}

/** A source with a dirtying workload and a paused incoming destination, events on both. */
async function pair(
  source: Partial<Parameters<typeof startGuest>[0]>,
  caps: { src?: string[]; dst?: string[] } = {},
): Promise<{ src: TestGuest; dst: TestGuest; uri: string }> {
  const src = await guest({ memoryMiB: 64, dirtyPagesPerSecond: 0, seed: 7, ...source });
  const dst = await guest({ memoryMiB: source.memoryMiB ?? 64, incoming: 'defer', paused: true });
  await setCaps(src, caps.src ?? []);
  await setCaps(dst, caps.dst ?? []);
  const uri = `unix:${dst.path('incoming.sock')}`;
  await dst.qmp.execute('migrate-incoming', { uri });
  return { src, dst, uri };
}

const names = (g: TestGuest): string[] =>
  g.events.map((e) => (e.event === 'MIGRATION' ? `MIGRATION:${String(e.data?.status)}` : e.event));

/** Downtime is measured from the stop to the destination's ack of the whole stream; the margin
 * covers the event loop of two Node processes on a busy 2-vCPU machine. */
const DOWNTIME_MARGIN_MS = 150;

void test('guest-sim migration - a dirtying guest converges over several passes, memory arrives bit-exact', async () => {
  const { src, dst, uri } = await pair(
    { dirtyPagesPerSecond: 1000, workingSetPages: 8192 },
    { src: ['return-path'], dst: [] },
  );
  await sleep(1500); // let the workload touch ~1500 pages; 4 MB/s of dirtying against 16 MiB/s converges
  await src.qmp.execute('migrate-set-parameters', {
    'max-bandwidth': 16 * 1024 * 1024,
    'downtime-limit': 50,
  });
  await src.qmp.execute('migrate', { uri });
  const info = await waitMigration(src, finished, 60_000);
  assert.equal(info.status, 'completed', JSON.stringify(info));
  const passes = src.events.filter((e) => e.event === 'MIGRATION_PASS').length;
  assert.ok(info.ram!['dirty-sync-count'] >= 3, `several passes: ${JSON.stringify(info.ram)}`);
  assert.equal(passes, info.ram!['dirty-sync-count']);
  assert.ok(info.downtime! <= 50 + DOWNTIME_MARGIN_MS, `downtime ${info.downtime} ms`);
  assert.ok(info.ram!.normal > 1000 && info.ram!.duplicate > 0);
  assert.deepEqual((await src.qmp.execute('query-status')).status, 'postmigrate');
  assert.deepEqual(
    names(src).filter((n) => n.startsWith('MIGRATION:') || n === 'STOP'),
    ['MIGRATION:setup', 'MIGRATION:active', 'STOP', 'MIGRATION:completed'],
  );
  const dstInfo = await waitMigration(dst, finished);
  assert.equal(dstInfo.status, 'completed');
  assert.equal((await dst.qmp.execute('query-status')).status, 'paused');
  const atStop = await src.qmp.execute('x-ferry-digest');
  const arrived = await dst.qmp.execute('x-ferry-digest');
  assert.equal(arrived.digest, atStop.digest);
  assert.equal(arrived.bytes, atStop.bytes);
  await dst.qmp.execute('cont');
  assert.equal((await dst.qmp.execute('query-status')).status, 'running');
  await sleep(200);
  assert.notEqual((await dst.qmp.execute('x-ferry-digest')).digest, atStop.digest, 'the workload runs on');
  assert.equal((await src.qmp.execute('x-ferry-digest')).digest, atStop.digest, 'the source stays stopped');
});

void test('guest-sim migration - a destination started without -S runs by itself after completion', async () => {
  const src = await guest({ memoryMiB: 16, dirtyPagesPerSecond: 200, seed: 3 });
  const dst = await guest({ memoryMiB: 16, incoming: 'defer' });
  await setCaps(src, []);
  const uri = `unix:${dst.path('in.sock')}`;
  await dst.qmp.execute('migrate-incoming', { uri });
  const resumed = dst.qmp.waitForEvent('RESUME', undefined, 20_000);
  await src.qmp.execute('migrate', { uri });
  await resumed;
  assert.equal((await waitMigration(src, finished)).status, 'completed');
  assert.equal((await dst.qmp.execute('query-status')).status, 'running');
});

void test('guest-sim migration - too little bandwidth keeps iterating; raising it on the fly converges', async () => {
  const { src, dst, uri } = await pair({ dirtyPagesPerSecond: 4000, workingSetPages: 256, memoryMiB: 32 });
  await sleep(300);
  await src.qmp.execute('migrate-set-parameters', { 'max-bandwidth': 4 * 1024 * 1024, 'downtime-limit': 50 });
  await src.qmp.execute('migrate', { uri });
  await sleep(1500);
  const early = await src.qmp.execute('query-migrate');
  await sleep(1000);
  const stuck = await src.qmp.execute('query-migrate');
  assert.equal(stuck.status, 'active', 'QEMU never gives up by itself');
  assert.ok(
    stuck.ram!['dirty-sync-count'] > early.ram!['dirty-sync-count'] && early.ram!['dirty-sync-count'] >= 3,
    `passes go on: ${JSON.stringify([early.ram, stuck.ram])}`,
  );
  assert.equal(typeof stuck['expected-downtime'], 'number');
  assert.equal((await src.qmp.execute('query-status')).status, 'running');
  await src.qmp.execute('migrate-set-parameters', { 'max-bandwidth': 4 * 1024 * 1024 * 1024 });
  const info = await waitMigration(src, finished, 20_000);
  assert.equal(info.status, 'completed');
  assert.ok(info.ram!['dirty-sync-count'] > stuck.ram!['dirty-sync-count']);
  await waitMigration(dst, finished);
  assert.equal(
    (await dst.qmp.execute('x-ferry-digest')).digest,
    (await src.qmp.execute('x-ferry-digest')).digest,
  );
});

void test('guest-sim migration - migrate_cancel leaves the source running and the destination exits 1', async () => {
  const { src, dst, uri } = await pair({ dirtyPagesPerSecond: 3000, workingSetPages: 4096 });
  await sleep(500);
  await src.qmp.execute('migrate-set-parameters', { 'max-bandwidth': 1024 * 1024 });
  await src.qmp.execute('migrate', { uri });
  await waitMigration(src, (i) => i.status === 'active');
  await sleep(300);
  await src.qmp.execute('migrate_cancel');
  const info = await waitMigration(src, finished);
  assert.equal(info.status, 'cancelled');
  assert.ok(names(src).includes('MIGRATION:cancelling'));
  assert.equal((await src.qmp.execute('query-status')).status, 'running');
  assert.equal(await dst.exited, 1);
  assert.ok(/load of migration failed/.test(dst.log()), dst.log());
  // The source can migrate again afterwards (a new destination).
  const again = await guest({ memoryMiB: 64, incoming: 'defer', paused: true });
  const uri2 = `unix:${again.path('in.sock')}`;
  await again.qmp.execute('migrate-incoming', { uri: uri2 });
  await src.qmp.execute('migrate-set-parameters', { 'max-bandwidth': 0 });
  await src.qmp.execute('migrate', { uri: uri2 });
  assert.equal((await waitMigration(src, finished)).status, 'completed');
});

/** Forwards a unix socket to another, both ways, and cuts both sides after `cutAfter` bytes. */
async function cuttingProxy(path: string, target: string, cutAfter: number): Promise<Server> {
  const server = createServer((a: Socket) => {
    const b = createConnection(target);
    let forwarded = 0;
    a.on('data', (chunk: Buffer) => {
      forwarded += chunk.length;
      if (forwarded >= cutAfter) {
        b.write(chunk.subarray(0, chunk.length - (forwarded - cutAfter)));
        a.destroy();
        b.destroy();
      } else {
        b.write(chunk);
      }
    });
    b.on('data', (chunk: Buffer) => a.write(chunk));
    a.on('error', () => b.destroy());
    b.on('error', () => a.destroy());
  });
  await new Promise<void>((resolve) => server.listen(path, resolve));
  return server;
}

void test('guest-sim migration - a stream cut mid-way fails both sides cleanly, the source runs on', async () => {
  const { src, dst, uri } = await pair(
    { dirtyPagesPerSecond: 2000, workingSetPages: 4096 },
    { src: ['return-path'] },
  );
  await sleep(500);
  const proxyPath = src.path('proxy.sock');
  const proxy = await cuttingProxy(proxyPath, uri.slice(5), 3 * 1024 * 1024 + 17);
  try {
    await src.qmp.execute('migrate-set-parameters', { 'max-bandwidth': 8 * 1024 * 1024 });
    await src.qmp.execute('migrate', { uri: `unix:${proxyPath}` });
    const info = await waitMigration(src, finished);
    assert.equal(info.status, 'failed');
    assert.ok((info['error-desc'] ?? '').length > 0, JSON.stringify(info));
    assert.equal((await src.qmp.execute('query-status')).status, 'running');
    assert.equal(await dst.exited, 1);
  } finally {
    proxy.close();
  }
});

void test('guest-sim migration - with switchover-ack the source never stops before the destination acks', async () => {
  // The destination does not have the capability, so it never acks: an idle source would
  // otherwise switch over at once.
  const { src, dst, uri } = await pair(
    { dirtyPagesPerSecond: 0 },
    { src: ['return-path', 'switchover-ack'], dst: ['return-path'] },
  );
  await src.qmp.execute('migrate', { uri });
  await sleep(1500);
  const waiting = await src.qmp.execute('query-migrate');
  assert.equal(waiting.status, 'active');
  assert.ok(
    waiting.ram!.remaining === 0 && waiting.ram!['dirty-sync-count'] >= 3,
    JSON.stringify(waiting.ram),
  );
  assert.ok(!names(src).includes('STOP'));
  assert.equal((await src.qmp.execute('query-status')).status, 'running');
  await src.qmp.execute('migrate_cancel');
  assert.equal((await waitMigration(src, finished)).status, 'cancelled');
  assert.equal(await dst.exited, 1);
});

void test('guest-sim migration - with switchover-ack on both sides the ack comes after pass 1 and it completes', async () => {
  const { src, dst, uri } = await pair(
    { dirtyPagesPerSecond: 3000, workingSetPages: 2048 },
    { src: ['return-path', 'switchover-ack'], dst: ['return-path', 'switchover-ack'] },
  );
  await sleep(300);
  await src.qmp.execute('migrate', { uri });
  assert.equal((await waitMigration(src, finished, 30_000)).status, 'completed');
  assert.ok(/switchover ack sent/.test(dst.log()) && /switchover acked/.test(src.log()));
  await waitMigration(dst, finished);
  assert.equal(
    (await dst.qmp.execute('x-ferry-digest')).digest,
    (await src.qmp.execute('x-ferry-digest')).digest,
  );
});

void test('guest-sim migration - pause-before-switchover waits in pre-switchover for migrate-continue', async () => {
  const { src, dst, uri } = await pair(
    { dirtyPagesPerSecond: 1000, workingSetPages: 1024 },
    {
      src: ['pause-before-switchover'],
    },
  );
  const paused = src.qmp.waitForEvent('MIGRATION', (e) => e.data?.status === 'pre-switchover', 20_000);
  await src.qmp.execute('migrate', { uri });
  await paused;
  await sleep(400);
  assert.equal((await src.qmp.execute('query-migrate')).status, 'pre-switchover');
  assert.equal((await src.qmp.execute('query-status')).status, 'finish-migrate');
  await assert.rejects(src.qmp.execute('migrate-continue', { state: 'active' }), /not in expected state/);
  await assert.rejects(src.qmp.execute('cont'), /switchover/);
  await src.qmp.execute('migrate-continue', { state: 'pre-switchover' });
  const info = await waitMigration(src, finished);
  assert.equal(info.status, 'completed');
  assert.ok(info.downtime! >= 400, 'the pause counts as downtime, as in QEMU');
  assert.deepEqual(
    names(src).filter((n) => n.startsWith('MIGRATION:') || n === 'STOP'),
    [
      'MIGRATION:setup',
      'MIGRATION:active',
      'STOP',
      'MIGRATION:pre-switchover',
      'MIGRATION:device',
      'MIGRATION:completed',
    ],
  );
  await waitMigration(dst, finished);
  assert.equal(
    (await dst.qmp.execute('x-ferry-digest')).digest,
    (await src.qmp.execute('x-ferry-digest')).digest,
  );
});

void test('guest-sim migration - an idle 1 GiB guest migrates fast (zero pages are cheap)', async () => {
  const { src, dst, uri } = await pair({ memoryMiB: 1024, dirtyPagesPerSecond: 0 });
  await src.qmp.execute('migrate-set-parameters', { 'max-bandwidth': 0 });
  const t0 = performance.now();
  await src.qmp.execute('migrate', { uri });
  const info = await waitMigration(src, finished, 60_000);
  const seconds = (performance.now() - t0) / 1000;
  assert.equal(info.status, 'completed');
  assert.equal(info.ram!.duplicate, 262144);
  process.stderr.write(
    `# 1 GiB idle: ${seconds.toFixed(2)} s wall, total-time ${info['total-time']} ms, downtime ${info.downtime} ms, ${info.ram!.transferred} bytes\n`,
  );
  assert.ok(seconds < 5, `${seconds} s`);
  await waitMigration(dst, finished);
  assert.equal(
    (await dst.qmp.execute('x-ferry-digest')).digest,
    (await src.qmp.execute('x-ferry-digest')).digest,
  );
});

void test('guest-sim migration - a guest that arrived by migration migrates on: query-migrate reports its new outgoing migration, not the finished incoming one', async () => {
  const { src, dst, uri } = await pair({ dirtyPagesPerSecond: 500, workingSetPages: 2048 });
  await sleep(1000);
  await src.qmp.execute('migrate', { uri });
  assert.equal((await waitMigration(src, finished, 60_000)).status, 'completed');
  await waitMigration(dst, finished, 60_000);
  await dst.qmp.execute('cont');
  const next = await guest({ memoryMiB: 64, incoming: 'defer', paused: true });
  const uri2 = `unix:${next.path('incoming.sock')}`;
  await next.qmp.execute('migrate-incoming', { uri: uri2 });
  // Slow enough that the second migration is still running when it is first asked about.
  await dst.qmp.execute('migrate-set-parameters', { 'max-bandwidth': 1024 * 1024 });
  await dst.qmp.execute('migrate', { uri: uri2 });
  const first = await dst.qmp.execute('query-migrate');
  assert.notEqual(first.status, 'completed', `the stale incoming status: ${JSON.stringify(first)}`);
  await dst.qmp.execute('migrate-set-parameters', { 'max-bandwidth': 256 * 1024 * 1024 });
  assert.equal((await waitMigration(dst, finished, 60_000)).status, 'completed');
  await waitMigration(next, finished, 60_000);
  // The digest at the stop is the memory that arrived: what an agent's Finish compares.
  assert.equal(
    (await next.qmp.execute('x-ferry-digest')).digest,
    (await dst.qmp.execute('x-ferry-digest')).digest,
  );
});

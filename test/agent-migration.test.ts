import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { type FerryEvent } from '../events/schema.ts';
import type { Config } from '../infra/config.ts';
import { routeTemporalLogs } from '../infra/logging/libraries.ts';
import { createLogger } from '../infra/logging/logger.ts';
import { processStartTime } from '../infra/process/pid-file.ts';
import { runHostOperation } from '../cli/host-operation.ts';
import { ferry } from './support/cli.ts';
import { runMigration } from './support/migrate.ts';
import { readEvents } from './support/events.ts';
import { realStack, uniqueName } from './support/stack.ts';

const [hostA, hostB] = [uniqueName('host'), uniqueName('host')];
const vm = uniqueName('vm');
let cfg: Config;

before(async () => {
  cfg = await realStack();
  routeTemporalLogs(createLogger('test-migration', 'error'));
  for (const [h, ip] of [
    [hostA, '127.0.0.4'],
    [hostB, '127.0.0.5'],
  ] as const) {
    const r = await ferry('host', 'start', h, '--address', ip, '--memory', '1024', '--detach');
    assert.equal(r.status, 0, r.stderr);
  }
});

after(async () => {
  await runHostOperation(cfg, hostB, 'killGuest', vm, 'test cleanup').catch(() => undefined);
  await ferry('guest', 'kill', vm);
  await ferry('host', 'stop', hostA);
  await ferry('host', 'stop', hostB);
});

test('agent migration - a dirtying emulated guest moves through the tunnel with its memory intact, and Kafka has the story', async () => {
  const start = await ferry('guest', 'start', vm, '--host', hostA, '--memory', '64', '--dirty-rate', '2000');
  assert.equal(start.status, 0, start.stderr);
  const sourcePid = Number(/pid (\d+)/.exec(start.stdout)?.[1]);
  await sleep(500); // let the workload dirty some pages first

  const { migrationId, result } = await runMigration(cfg, {
    vm,
    kind: 'emulated',
    memoryMiB: 64,
    source: hostA,
    destination: hostB,
    downtimeLimitMs: 300,
    maxBandwidthBytesPerSec: 256 * 1024 * 1024,
    progressTimeoutMs: 30_000,
  });
  const { out, arrived } = result;

  assert.equal(out.status, 'completed');
  assert.equal(
    arrived.digest,
    out.digest,
    'memory at the destination equals memory at the stop on the source',
  );
  assert.ok(out.passes >= 2, `precopy iterated (${out.passes} dirty syncs)`);
  assert.ok(out.downtimeMs <= 300 + 150, `downtime ${out.downtimeMs} ms within the limit plus margin`);
  assert.ok(arrived.bytes > 64 * 1024, 'the stream went through the tunnel');
  assert.equal(processStartTime(sourcePid), undefined, 'the source guest is gone');
  const status = await runHostOperation(cfg, hostB, 'guestStatus', vm);
  assert.deepEqual([status.status, status.running], ['running', true], 'the destination runs');

  const story = await readEvents(
    cfg,
    (e) => e.vm === vm,
    (events) => events.some((e) => e.type === 'guest.killed' && e.host === hostA),
  );

  const ofMigration = story.filter((e) => e.migrationId === migrationId);
  const statuses = ofMigration.filter((e) => e.type === 'migration.status').map((e) => e.data.status);
  const bySide = (side: string) =>
    ofMigration.flatMap((e) =>
      e.type === 'migration.status' && e.data.side === side ? [e.data.status] : [],
    );
  assert.equal(bySide('source').at(-1), 'completed', `source statuses: ${statuses.join(' → ')}`);
  assert.ok(
    bySide('destination').includes('completed'),
    `destination statuses: ${bySide('destination').join(' → ')}`,
  );
  for (const side of ['source', 'destination'] as const) {
    const sections = ofMigration.filter((e) => e.type === 'savevm.section' && e.data.side === side);
    assert.ok(
      sections.some((e) => e.type === 'savevm.section' && e.data.kind === 'eof'),
      `${side} saw the EOF`,
    );
    assert.ok(
      ofMigration.some(
        (e) => e.type === 'tunnel.closed' && e.data.side === side && e.data.outcome === 'completed',
      ),
      `${side} tunnel closed completed`,
    );
  }
  const order = story.map((e) => `${e.type}@${e.host === hostA ? 'A' : 'B'}`);
  // Source stopped for the switchover, destination resumed after the stream arrived.
  assert.ok(order.includes('guest.paused@A'), order.join(', '));
  assert.ok(order.indexOf('guest.resumed@B') > order.indexOf('guest.started@B'), order.join(', '));
  const idx = (t: string) => order.indexOf(t);
  assert.ok(idx('guest.started@A') < idx('guest.defined@B'), order.join(', '));
  assert.ok(idx('guest.defined@B') < order.lastIndexOf('guest.killed@A'), order.join(', '));
});

test('agent migration - a real QEMU guest migrates through the tunnel, its stream parsed on the way', async () => {
  const qvm = uniqueName('vm');
  const start = await ferry('guest', 'start', qvm, '--host', hostA, '--memory', '64', '--kind', 'qemu');
  assert.equal(start.status, 0, start.stderr);
  try {
    await sleep(1000); // the guest program boots and starts dirtying its working set
    const { migrationId, result } = await runMigration(cfg, {
      vm: qvm,
      kind: 'qemu',
      memoryMiB: 64,
      source: hostA,
      destination: hostB,
      downtimeLimitMs: 300,
      maxBandwidthBytesPerSec: 128 * 1024 * 1024,
      progressTimeoutMs: 30_000,
    });
    assert.equal(result.out.status, 'completed');
    assert.equal(result.arrived.digest, result.out.digest, 'RAM at the destination equals RAM at the stop');
    const status = await runHostOperation(cfg, hostB, 'guestStatus', qvm);
    assert.equal(status.running, true, 'the destination QEMU runs');

    const hasEof = (events: FerryEvent[], side: string) =>
      events.some((e) => e.type === 'savevm.section' && e.data.side === side && e.data.kind === 'eof');
    const sections = await readEvents(
      cfg,
      (e) => e.migrationId === migrationId && e.type === 'savevm.section',
      (events) => hasEof(events, 'source') && hasEof(events, 'destination'),
    );
    for (const side of ['source', 'destination']) {
      const devices = sections.filter(
        (e) => e.type === 'savevm.section' && e.data.side === side && e.data.kind === 'full',
      );
      assert.ok(hasEof(sections, side), `${side} parsed QEMU's stream to its EOF`);
      assert.ok(devices.length >= 20, `${side} saw QEMU's device sections (${devices.length})`);
    }
  } finally {
    await runHostOperation(cfg, hostB, 'killGuest', qvm, 'test cleanup').catch(() => undefined);
    await ferry('guest', 'kill', qvm);
  }
});

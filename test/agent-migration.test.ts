import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { type FerryEvent } from '../protocol/events.ts';
import type { Config } from '../infra/config.ts';
import { processStartTime } from '../infra/process/pid-file.ts';
import { runHostOperation } from '../cli/host-operation.ts';
import { twoAgents, type TwoAgents } from '../lab/agents.ts';
import { readEvents } from './support/events.ts';
import { startTestController, type TestController } from '../lab/migrate.ts';
import { ensureQemu } from '../lab/qemu.ts';
import { realStack, uniqueName } from '../lab/stack.ts';

let cfg: Config;
let agents: TwoAgents;
let ctl: TestController;
let hostA: string;
let hostB: string;

before(async () => {
  cfg = await realStack();
  agents = await twoAgents(cfg, ['127.0.0.4', '127.0.0.5']);
  ({ source: hostA, destination: hostB } = agents);
  ctl = await startTestController(cfg);
});

after(async () => {
  await ctl?.stop();
  await agents?.stop();
});

test('agent migration - a dirtying emulated guest moves through the tunnel with its memory intact, and Kafka has the story', async () => {
  const vm = uniqueName('vm');
  const sourcePid = await agents.startGuest(vm, '--memory', '64', '--dirty-rate', '2000');
  await sleep(500); // let the workload dirty some pages first

  const report = await ctl.run({
    vm,
    source: hostA,
    destination: hostB,
    maxDowntimeMs: 300,
    bandwidthMiBps: 256,
    progressTimeoutMs: 30_000,
  });
  const { migrationId, digests } = report;

  assert.equal(report.outcome, 'completed', JSON.stringify(report.firstError));
  assert.equal(report.runsOn, hostB);
  assert.ok(digests.source, 'the source digested its memory at the stop');
  assert.equal(
    digests.destination,
    digests.source,
    'memory at the destination equals memory at the stop on the source',
  );
  assert.ok((report.passes ?? 0) >= 2, `precopy iterated (${report.passes} dirty syncs)`);
  assert.ok(
    report.downtimeMs !== null && report.downtimeMs <= 300 + 150,
    `downtime ${report.downtimeMs} ms within the limit plus margin`,
  );
  assert.ok((report.bytes ?? 0) > 64 * 1024, 'the stream went through the tunnel');
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
  /** Where `t` first happened; every event the order is checked on must be there (-1 would pass a `<`). */
  const idx = (t: string) => {
    const i = order.indexOf(t);
    assert.ok(i >= 0, `${t} happened: ${order.join(', ')}`);
    return i;
  };
  // Source stopped for the switchover, destination resumed after the stream arrived.
  idx('guest.paused@A');
  assert.ok(idx('guest.resumed@B') > idx('guest.started@B'), order.join(', '));
  assert.ok(idx('guest.started@A') < idx('guest.defined@B'), order.join(', '));
  assert.ok(idx('guest.defined@B') < order.lastIndexOf('guest.killed@A'), order.join(', '));
});

test('agent migration - a real QEMU guest migrates through the tunnel, its stream parsed on the way', async () => {
  ensureQemu(); // the agent runs /usr/bin/qemu-system-x86_64
  const qvm = uniqueName('vm');
  await agents.startGuest(qvm, '--memory', '64', '--kind', 'qemu');
  await sleep(1000); // the guest program boots and starts dirtying its working set
  const report = await ctl.run({
    vm: qvm,
    source: hostA,
    destination: hostB,
    maxDowntimeMs: 300,
    bandwidthMiBps: 128,
    progressTimeoutMs: 30_000,
  });
  assert.equal(report.outcome, 'completed', JSON.stringify(report.firstError));
  assert.ok(report.digests.source, 'the source digested its RAM at the stop');
  assert.equal(
    report.digests.destination,
    report.digests.source,
    'RAM at the destination equals RAM at the stop',
  );
  const status = await runHostOperation(cfg, hostB, 'guestStatus', qvm);
  assert.equal(status.running, true, 'the destination QEMU runs');

  const hasEof = (events: FerryEvent[], side: string) =>
    events.some((e) => e.type === 'savevm.section' && e.data.side === side && e.data.kind === 'eof');
  const sections = await readEvents(
    cfg,
    (e) => e.migrationId === report.migrationId && e.type === 'savevm.section',
    (events) => hasEof(events, 'source') && hasEof(events, 'destination'),
  );
  for (const side of ['source', 'destination']) {
    const devices = sections.filter(
      (e) => e.type === 'savevm.section' && e.data.side === side && e.data.kind === 'full',
    );
    assert.ok(hasEof(sections, side), `${side} parsed QEMU's stream to its EOF`);
    assert.ok(devices.length >= 20, `${side} saw QEMU's device sections (${devices.length})`);
  }
});

// The audit's checks of the invariants of docs/architecture.md, each from a made-up log that breaks
// one of them, and a clean mixed run that breaks none.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Auditor, type Conclusion } from '../../events/audit.ts';
import { orderEvents } from '../../events/order.ts';
import type { FerryEvent } from '../../protocol/events.ts';
import { EventForge } from '../../lab/event-forge.ts';
import {
  abortedMigration,
  completedMigration,
  guestKilled,
  guestStarted,
  hostStarted,
  refusedMigration,
} from '../../lab/event-scenarios.ts';

const [A, B, C] = ['host-a', 'host-b', 'host-c'];
const settled: Conclusion = { inFlight: () => false, partial: false };

function audit(events: FerryEvent[], c: Conclusion = settled) {
  const auditor = new Auditor();
  for (const e of orderEvents(events)) auditor.observe(e);
  return auditor.conclude(c);
}

const checks = (events: FerryEvent[], c?: Conclusion) => audit(events, c).map((v) => v.check);

test('audit - a mixed run (completed, refused, aborted, killed by the operator) breaks nothing', () => {
  const f = new EventForge();
  const events = [
    hostStarted(f, A),
    hostStarted(f, B),
    ...guestStarted(f, A, 'vm-1'),
    ...guestStarted(f, A, 'vm-2'),
    ...guestStarted(f, A, 'vm-3'),
    ...completedMigration(f, { vm: 'vm-1', migrationId: 'm-1', source: A, destination: B }),
    ...refusedMigration(f, { vm: 'vm-2', migrationId: 'm-2', source: A, destination: C }),
    ...abortedMigration(f, { vm: 'vm-3', migrationId: 'm-3', source: A, destination: B }),
    ...guestKilled(f, B, 'vm-1'),
  ];
  assert.deepEqual(audit(events), []);
});

test('audit - a VM started on a second host while it runs on the first: cites the forged event', () => {
  const f = new EventForge();
  const first = guestStarted(f, A, 'vm-1');
  const forged = f.record(B, { type: 'guest.started', vm: 'vm-1', data: { pid: 7, paused: false } });
  const found = audit([...first, forged]);
  // B runs it without its disk, too: A still holds the lease.
  assert.deepEqual(
    found.map((v) => v.check),
    ['two-hosts', 'disk-elsewhere'],
  );
  const v = found[0];
  assert.equal(v?.invariant, 1);
  assert.deepEqual(
    v?.cites.map((r) => `${r.host}:${r.seq}:${r.id}`),
    [`${A}:2:${first[2]!.id}`, `${B}:0:${forged.id}`],
  );
  assert.match(v?.message ?? '', /vm-1 runs on host-b .* while it runs on host-a since host-a:2/);
});

test('audit - a hand-over within the same millisecond is not an overlap', () => {
  const f = new EventForge();
  // The destination's name sorts first, so only the endings-first rule orders the pause first.
  const [SRC, DST] = [B, A];
  const m = { vm: 'vm-1', migrationId: 'm-1' };
  const events = [
    ...guestStarted(f, SRC, 'vm-1'),
    f.record(DST, { ...m, type: 'guest.defined', data: { kind: 'emulated', memoryMiB: 96, incoming: true } }),
    f.record(DST, { ...m, type: 'guest.started', data: { pid: 8, paused: true } }),
    f.record(SRC, { type: 'disk.released', vm: 'vm-1', data: { disks: ['vm-1-disk0'] } }),
    f.record(DST, { type: 'disk.leased', vm: 'vm-1', data: { disks: ['vm-1-disk0'], tokens: [2] } }),
  ];
  const paused = f.record(SRC, { type: 'guest.paused', vm: 'vm-1', data: { reason: 'QMP STOP' } });
  const resumed = f.record(DST, { type: 'guest.resumed', vm: 'vm-1', data: { reason: 'QMP RESUME' } }, 0);
  assert.equal(paused.time, resumed.time);
  // Shipped in the "wrong" order: the destination's outbox was faster.
  assert.deepEqual(checks([...events, resumed, paused], { inFlight: () => true, partial: false }), []);
});

test('audit - a migration that kills the source while the destination never resumed loses the VM', () => {
  const f = new EventForge();
  const events = [...guestStarted(f, A, 'vm-1')];
  const m = completedMigration(f, { vm: 'vm-1', migrationId: 'm-1', source: A, destination: B });
  const withoutResume = m.filter((e) => !(e.type === 'guest.resumed' && e.host === B));
  const found = audit([...events, ...withoutResume]);
  assert.deepEqual(
    found.map((v) => v.check),
    ['lost', 'ended-disagrees', 'incoming-left'],
  );
  const killed = m.find((e) => e.type === 'guest.killed')!;
  assert.equal(found[0]?.cites[0]?.id, killed.id);
});

test('audit - an operator kill is not a loss, a crash is; a rolled-back incoming guest left alive is a leftover', () => {
  const f = new EventForge();
  const base = [...guestStarted(f, A, 'vm-1'), ...guestKilled(f, A, 'vm-1')];
  assert.deepEqual(checks(base), []);
  const crashed = [
    ...guestStarted(f, A, 'vm-3'),
    f.record(A, { type: 'guest.stopped', vm: 'vm-3', data: { reason: 'its process exited' } }),
    f.record(A, { type: 'disk.released', vm: 'vm-3', data: { disks: ['vm-3-disk0'] } }),
  ];
  const [lost] = audit(crashed);
  assert.equal(lost?.check, 'lost');
  assert.equal(
    lost?.message,
    `vm-3 is gone: it stopped on ${A} (its process exited) and no other host runs it`,
  );
  const g = new EventForge();
  const vm2 = guestStarted(g, A, 'vm-2');
  const aborted = abortedMigration(g, { vm: 'vm-2', migrationId: 'm-2', source: A, destination: B });
  const kept = aborted.filter((e) => !(e.type === 'guest.killed' && e.host === B));
  assert.deepEqual(checks([...vm2, ...kept]), ['incoming-left']);
});

test('audit - disk leases: a second holder, a guest running without its disk, a lease left behind', () => {
  const f = new EventForge();
  const vm1 = guestStarted(f, A, 'vm-1');
  const grab = f.record(B, { type: 'disk.leased', vm: 'vm-1', data: { disks: ['vm-1-disk0'], tokens: [2] } });
  assert.deepEqual(checks([...vm1, grab]), ['disk-two-holders', 'lease-without-guest']);
  const g = new EventForge();
  const left = [
    ...guestStarted(g, A, 'vm-2'),
    g.record(A, { type: 'guest.killed', vm: 'vm-2', data: { reason: 'killed by operator' } }),
  ];
  const [v] = audit(left);
  assert.equal(v?.check, 'lease-without-guest');
  assert.deepEqual(
    v?.cites.map((r) => ('type' in r ? r.type : null)),
    ['disk.leased', 'guest.killed'],
  );
});

test('audit - every migration ends completed or rolled back, with its first error', () => {
  const f = new EventForge();
  const start = guestStarted(f, A, 'vm-1');
  const m = completedMigration(f, { vm: 'vm-1', migrationId: 'm-1', source: A, destination: B });
  const unended = m.filter((e) => e.type !== 'migration.ended');
  assert.deepEqual(checks([...start, ...unended]), ['migration-unended']);
  assert.deepEqual(checks([...start, ...unended], { inFlight: (id) => id === 'm-1', partial: false }), []);
  const g = new EventForge();
  const vm2 = guestStarted(g, A, 'vm-2');
  const refused = refusedMigration(g, { vm: 'vm-2', migrationId: 'm-2', source: A, destination: C });
  const noError = refused.map((e) =>
    e.type === 'migration.ended' ? { ...e, data: { ...e.data, firstError: null } } : e,
  );
  const failed = refused.map((e) =>
    e.type === 'migration.ended'
      ? { ...e, data: { ...e.data, outcome: 'failed' as const, runsOn: null } }
      : e,
  );
  assert.deepEqual(checks([...vm2, ...noError]), ['first-error-missing']);
  assert.deepEqual(checks([...vm2, ...failed]), ['ended-disagrees', 'migration-failed']);
});

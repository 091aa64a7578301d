// The projection rebuilds hosts, guests, disk holders and migration timelines from events alone.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { guestState, project } from '../../events/projection.ts';
import { orderEvents } from '../../events/order.ts';
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

function mixedLog() {
  const f = new EventForge();
  const events = [
    hostStarted(f, A),
    hostStarted(f, B, '127.0.0.51:40001'),
    hostStarted(f, C),
    ...guestStarted(f, A, 'vm-1'),
    ...guestStarted(f, A, 'vm-2'),
    ...guestStarted(f, A, 'vm-3'),
    ...completedMigration(f, {
      vm: 'vm-1',
      migrationId: 'm-1',
      source: A,
      destination: B,
      passes: 2,
      ramParts: 4,
    }),
    ...refusedMigration(f, { vm: 'vm-2', migrationId: 'm-2', source: A, destination: C }),
    ...abortedMigration(f, { vm: 'vm-3', migrationId: 'm-3', source: A, destination: B }),
    f.record(C, { type: 'host.stopped', vm: null, data: {} }),
  ];
  return events;
}

test('projection - a mixed run: where each VM runs, its disk holder, host states', () => {
  const state = project(mixedLog());
  const where = (vm: string) => {
    const g = state.guests.get(vm)!;
    return `${g.primary}:${guestState(g)}`;
  };
  assert.equal(where('vm-1'), `${B}:running`);
  assert.equal(where('vm-2'), `${A}:running`);
  assert.equal(where('vm-3'), `${A}:running`);
  assert.deepEqual([...state.disks.values()].map((d) => `${d.disk}@${d.host}#${d.token}`).sort(), [
    `vm-1-disk0@${B}#2`,
    `vm-2-disk0@${A}#1`,
    `vm-3-disk0@${A}#1`,
  ]);
  assert.deepEqual(
    [...state.hosts.values()].map((h) => `${h.name}:${h.up ? 'up' : 'down'}`),
    [`${A}:up`, `${B}:up`, `${C}:down`],
  );
  assert.equal(state.hosts.get(B)?.address, '127.0.0.51:40001');
  const g1 = state.guests.get('vm-1')!;
  assert.deepEqual([g1.kind, g1.memoryMiB], ['emulated', 96]);
  assert.equal(g1.copies.get(A)?.state, 'gone');
});

test('projection - migration timelines: phases, statuses, passes, stream, outcome, first error', () => {
  const { migrations } = project(mixedLog());
  const m1 = migrations.get('m-1')!;
  assert.deepEqual(
    m1.phases.map((p) => `${p.phase}@${p.host}:${p.mode}`),
    [
      `begin@${A}:normal`,
      `prepare@${B}:normal`,
      `perform@${A}:normal`,
      `finish@${B}:normal`,
      `confirm@${A}:normal`,
    ],
  );
  assert.deepEqual([m1.source, m1.destination, m1.passes], [A, B, 2]);
  assert.equal(m1.ended?.outcome, 'completed');
  assert.equal(m1.ended?.downtimeMs, 2);
  assert.deepEqual(m1.sections, { source: 11, destination: 11 });
  assert.deepEqual(
    m1.statuses.filter((s) => s.side === 'destination').map((s) => s.status),
    ['setup', 'active', 'completed'],
  );
  const m2 = migrations.get('m-2')!;
  assert.deepEqual([m2.ended?.outcome, m2.ended?.firstError?.type], ['rolled-back', 'CapacityShort']);
  const m3 = migrations.get('m-3')!;
  assert.deepEqual(
    [m3.ended?.outcome, m3.ended?.aborted, m3.tunnels[0]?.outcome],
    ['rolled-back', true, 'broken'],
  );
  assert.equal(m3.destination, B);
});

test('projection - the same state whatever order the hosts shipped in', () => {
  const events = mixedLog();
  const shuffled = [...events].reverse();
  const summary = (s: ReturnType<typeof project>) =>
    JSON.stringify({
      guests: [...s.guests.values()].map((g) => [g.vm, g.primary, guestState(g)]),
      disks: [...s.disks.keys()].sort(),
      migrations: [...s.migrations.values()].map((m) => [m.id, m.ended?.outcome, m.phases.length]),
    });
  assert.equal(summary(project(shuffled)), summary(project(events)));
  assert.deepEqual(
    orderEvents(shuffled).map((e) => e.id),
    events.map((e) => e.id),
  );
});

test('projection - an incoming copy is not the VM until resumed; a killed VM is gone', () => {
  const f = new EventForge();
  const log = [...guestStarted(f, A, 'vm-9')];
  const migration = completedMigration(f, { vm: 'vm-9', migrationId: 'm-9', source: A, destination: B });
  const resumedAt = migration.findIndex((e) => e.type === 'guest.resumed');
  const before = project([...log, ...migration.slice(0, resumedAt)]).guests.get('vm-9')!;
  assert.equal(before.primary, A);
  assert.equal(before.copies.get(B)?.state, 'incoming');
  const after = project([...log, ...migration, ...guestKilled(f, B, 'vm-9')]);
  assert.equal(guestState(after.guests.get('vm-9')!), 'gone');
  assert.equal(after.disks.size, 0);
});

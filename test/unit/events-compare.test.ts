// The rebuilt state against a live one: each kind of difference is named, an equal one has none.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { compareWithLive, liveScopeOf } from '../../events/compare.ts';
import type { LiveState } from '../../events/live.ts';
import { project } from '../../events/projection.ts';
import { EventForge } from '../../lab/event-forge.ts';
import { completedMigration, guestStarted, hostStarted } from '../../lab/event-scenarios.ts';

const [A, B] = ['host-a', 'host-b'];

function rebuilt() {
  const f = new EventForge();
  return project([
    hostStarted(f, A, '127.0.0.50:4000'),
    hostStarted(f, B, '127.0.0.51:4001'),
    ...guestStarted(f, A, 'vm-1'),
    ...guestStarted(f, A, 'vm-2'),
    ...completedMigration(f, { vm: 'vm-1', migrationId: 'm-1', source: A, destination: B }),
  ]);
}

function matching(): LiveState {
  const uuid = (h: string) => rebuilt().hosts.get(h)!.uuid;
  return {
    placements: new Map([
      ['vm-1', B],
      ['vm-2', A],
    ]),
    disks: new Map([
      ['vm-1-disk0', { host: B, vm: 'vm-1', token: 2 }],
      ['vm-2-disk0', { host: A, vm: 'vm-2', token: 1 }],
    ]),
    hosts: new Map([
      [A, { name: A, up: true, uuid: uuid(A), address: '127.0.0.50:4000' }],
      [B, { name: B, up: true, uuid: uuid(B), address: '127.0.0.51:4001' }],
    ]),
    jobs: [],
    runningWorkflows: new Set(),
  };
}

test('compare - the scope of a VM filter: its hosts and disks only', () => {
  const scope = liveScopeOf(rebuilt(), new Set(['vm-2']));
  assert.deepEqual(scope, { vms: ['vm-2'], disks: ['vm-2-disk0'], hosts: [A], everything: false });
  assert.equal(liveScopeOf(rebuilt()).everything, true);
});

test('compare - a live state equal to the log has no difference', () => {
  assert.deepEqual(compareWithLive(rebuilt(), matching()), []);
});

test('compare - each difference is named with what the log and Redis say', () => {
  const live = matching();
  live.placements.set('vm-1', A);
  live.disks.set('vm-2-disk0', null);
  live.hosts.set(B, { ...live.hosts.get(B)!, up: false });
  live.jobs.push({ vm: 'vm-1', host: A, job: 'MIGRATION_OUT', phase: 'confirm3', owner: 'm-1' });
  const diffs = compareWithLive(rebuilt(), live);
  assert.deepEqual(
    diffs.map((d) => `${d.what}:${d.subject}`),
    ['placement:vm-1', 'disk:vm-2-disk0', `host:${B}`, `job:vm-1@${A}`],
  );
  assert.equal(diffs[0]?.message, `vm-1: the log has it on ${B}; Redis places it on ${A}`);
  assert.match(diffs[2]?.message ?? '', /heartbeat has lapsed/);
  assert.match(diffs[3]?.message ?? '', /the log says ended completed/);
});

test('compare - a host up without host.started is a difference only when the log was read from the start', () => {
  const live = matching();
  live.hosts.set('host-late', { ...live.hosts.get(A)!, up: true });
  const fromStart = compareWithLive(rebuilt(), live);
  assert.deepEqual(
    fromStart.map((d) => `${d.what}:${d.subject}`),
    ['host:host-late'],
  );
  assert.deepEqual(compareWithLive(rebuilt(), live, false), [], 'read --since: it started before');
});

import assert from 'node:assert/strict';
import { test } from 'node:test';
import { QmpError } from '../../hosts/guest-sim/errors.ts';
import { applyCapabilities, defaultCapabilities } from '../../hosts/guest-sim/migration-config.ts';
import {
  canMigrationTransition,
  isCancellable,
  isMigrationRunning,
} from '../../hosts/guest-sim/migration-status.ts';
import { assertRunTransition, canRunTransition } from '../../hosts/guest-sim/run-state.ts';

void test('guest-sim states - migration status transitions as QEMU makes them', () => {
  const allowed: [string, string][] = [
    ['none', 'setup'],
    ['setup', 'active'],
    ['active', 'completed'],
    ['active', 'pre-switchover'],
    ['pre-switchover', 'device'],
    ['device', 'completed'],
    ['active', 'cancelling'],
    ['cancelling', 'cancelled'],
    ['setup', 'failed'],
    ['completed', 'setup'],
  ];
  const refused: [string, string][] = [
    ['none', 'active'],
    ['active', 'device'],
    ['completed', 'active'],
    ['cancelled', 'active'],
    ['failed', 'completed'],
    ['pre-switchover', 'completed'],
    ['cancelling', 'active'],
  ];
  for (const [a, b] of allowed) assert.ok(canMigrationTransition(a as never, b as never), `${a} -> ${b}`);
  for (const [a, b] of refused) assert.ok(!canMigrationTransition(a as never, b as never), `${a} -> ${b}`);
  assert.ok(isMigrationRunning('cancelling') && !isMigrationRunning('completed'));
  assert.ok(isCancellable('pre-switchover') && !isCancellable('cancelling'));
});

void test('guest-sim states - run state transitions as QEMU allows them', () => {
  const allowed: [string, string][] = [
    ['running', 'finish-migrate'],
    ['finish-migrate', 'postmigrate'],
    ['finish-migrate', 'running'],
    ['inmigrate', 'paused'],
    ['inmigrate', 'running'],
    ['postmigrate', 'running'],
    ['prelaunch', 'running'],
  ];
  const refused: [string, string][] = [
    ['postmigrate', 'paused'],
    ['running', 'inmigrate'],
    ['running', 'postmigrate'],
    ['shutdown', 'running'],
  ];
  for (const [a, b] of allowed) assert.ok(canRunTransition(a as never, b as never), `${a} -> ${b}`);
  for (const [a, b] of refused) assert.ok(!canRunTransition(a as never, b as never), `${a} -> ${b}`);
  assert.throws(() => assertRunTransition('running', 'inmigrate'), /invalid run state transition/);
});

void test('guest-sim states - capabilities: switchover-ack needs return-path, unsupported ones stay off', () => {
  const caps = defaultCapabilities();
  assert.throws(
    () => applyCapabilities(caps, [{ capability: 'switchover-ack', state: true }]),
    (e: unknown) => e instanceof QmpError && e.errorClass === 'GenericError' && /return-path/.test(e.desc),
  );
  const on = applyCapabilities(caps, [
    { capability: 'return-path', state: true },
    { capability: 'switchover-ack', state: true },
  ]);
  assert.ok(on['switchover-ack'] && on['return-path'] && !caps['return-path'], 'applied to a copy');
  assert.throws(() => applyCapabilities(caps, [{ capability: 'postcopy-ram', state: true }]), QmpError);
  assert.equal(
    applyCapabilities(caps, [{ capability: 'postcopy-ram', state: false }])['postcopy-ram'],
    false,
  );
});

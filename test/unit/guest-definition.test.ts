// What an agent is asked to run: the working set is a QEMU guest's (its program's ws=), bounded by
// the guest's memory, and reaches QEMU's command line; an emulated guest refuses it.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import { guestCommand } from '../../hosts/agent/guest-command.ts';
import { GuestDefinitionSchema } from '../../hosts/agent/guest-definition.ts';
import { loadConfig } from '../../infra/config.ts';

test('guest definition - a QEMU guest takes a working set that fits its memory', () => {
  const d = GuestDefinitionSchema.parse({ vm: 'vm-a', kind: 'qemu', memoryMiB: 512, workingSetMiB: 384 });
  assert.equal(d.workingSetMiB, 384);
  assert.equal(
    GuestDefinitionSchema.parse({ vm: 'vm-a', kind: 'qemu', memoryMiB: 512 }).workingSetMiB,
    undefined,
  );
});

test('guest definition - a working set is refused for an emulated guest, or when it does not fit', () => {
  const emulated = GuestDefinitionSchema.safeParse({
    vm: 'vm-a',
    kind: 'emulated',
    memoryMiB: 64,
    workingSetMiB: 8,
  });
  assert.equal(emulated.success, false);
  assert.match(emulated.error?.issues[0]?.message ?? '', /for QEMU guests/);
  const big = GuestDefinitionSchema.safeParse({ vm: 'vm-a', kind: 'qemu', memoryMiB: 64, workingSetMiB: 63 });
  assert.equal(big.success, false);
  assert.match(big.error?.issues[0]?.message ?? '', /must fit/);
});

test('guest definition - the working set reaches the QEMU guest program', async () => {
  const def = GuestDefinitionSchema.parse({ vm: 'vm-a', kind: 'qemu', memoryMiB: 512, workingSetMiB: 384 });
  // The image is built (or found) where the agents keep it: the project's cache.
  const images = join(loadConfig().cacheDir, 'guest-images');
  const { args } = await guestCommand(def, '/tmp/ferry-unit-qmp.sock', images);
  assert.ok(
    args.some((a) => a.includes('ws=384')),
    args.join(' '),
  );
});

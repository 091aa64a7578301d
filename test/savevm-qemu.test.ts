// The codec against real QEMU: streams captured from QEMU 7.2 with several machine types,
// memory sizes and devices must parse to the last byte, with page counts equal to QEMU's own
// query-migrate counters, the block list equal to `info ramblock`, and every device section's
// size (found by the footer scan) equal to what QEMU's device description says it wrote.
import assert from 'node:assert/strict';
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { test } from 'node:test';
import { inspectFile } from '../hosts/savevm/inspect.ts';
import { isSavevmError } from '../hosts/savevm/errors.ts';
import { ensureQemu, migrateToFile, ramBlocks, startQemu } from '../lab/qemu.ts';
import type { QemuOptions } from '../lab/qemu.ts';

interface Case extends QemuOptions {
  title: string;
  expectMachine: string;
  /** Slow the migration down so a running guest gets several precopy passes. */
  bandwidth?: number;
  /** Migration capabilities that add subsections to the configuration section. */
  capabilities?: string[];
  expectSubsections?: string[];
}

const NET = ['-netdev', 'user,id=n0', '-device', 'virtio-net-pci,netdev=n0'];
const cases: Case[] = [
  { title: 'pc, 64M, paused', machine: 'pc', memory: '64M', paused: true, expectMachine: 'pc-i440fx-7.2' },
  {
    title: 'q35, 128M, virtio-net + user netdev, virtio-balloon, e1000, serial, paused',
    machine: 'q35',
    memory: '128M',
    paused: true,
    expectMachine: 'pc-q35-7.2',
    args: [
      ...NET,
      '-device',
      'virtio-balloon-pci',
      '-serial',
      'null',
      '-netdev',
      'user,id=n1',
      '-device',
      'e1000,netdev=n1',
    ],
  },
  {
    title: 'pc-i440fx-2.4 (oldest machine type with footers), 256M, e1000, paused',
    machine: 'pc-i440fx-2.4',
    memory: '256M',
    paused: true,
    expectMachine: 'pc-i440fx-2.4',
    args: ['-device', 'e1000'],
  },
  {
    title: 'pc-i440fx-7.2, 128M, virtio-balloon, serial, running guest, throttled to several passes',
    machine: 'pc-i440fx-7.2',
    memory: '128M',
    paused: false,
    expectMachine: 'pc-i440fx-7.2',
    args: ['-device', 'virtio-balloon-pci', '-serial', 'null'],
    bandwidth: 2 * 1024 * 1024,
  },
  {
    title: 'pc, 64M, validate-uuid capability (configuration/uuid subsection), paused',
    machine: 'pc',
    memory: '64M',
    paused: true,
    expectMachine: 'pc-i440fx-7.2',
    args: ['-uuid', '12345678-1234-1234-1234-123456789abc'],
    capabilities: ['validate-uuid'],
    expectSubsections: ['configuration/uuid'],
  },
  {
    title:
      'pc, 64M, x-ignore-shared capability (configuration/capabilities subsection, block addresses), paused',
    machine: 'pc',
    memory: '64M',
    paused: true,
    expectMachine: 'pc-i440fx-7.2',
    capabilities: ['x-ignore-shared'],
    expectSubsections: ['configuration/capabilities'],
  },
];

void test('savevm qemu - qemu-system-x86_64 is installed (or installable) for these tests', () => {
  assert.match(ensureQemu(), /qemu-system-x86_64$/);
});

for (const c of cases) {
  void test(
    `savevm qemu - ${c.title}: parses to the last byte and matches QEMU's counters`,
    { timeout: 180_000 },
    async () => {
      const guest = await startQemu(c);
      try {
        if (c.bandwidth !== undefined) {
          await guest.qmp.execute('migrate-set-parameters', { 'max-bandwidth': c.bandwidth });
        }
        if (c.capabilities) {
          const capabilities = c.capabilities.map((capability) => ({ capability, state: true }));
          await guest.qmp.execute('migrate-set-capabilities', { capabilities });
        }
        if (!c.paused) await sleep(1000); // let the firmware run and dirty memory
        const file = join(guest.dir, 'stream.savevm');
        const info = await migrateToFile(guest, file);
        const blocks = await ramBlocks(guest);
        const { size } = await stat(file);
        const { summary, details } = await inspectFile(file);

        assert.equal(summary.bytes, size, 'every byte of the stream is consumed');
        assert.equal(summary.eof, true);
        assert.equal(summary.version, 3);
        assert.equal(summary.machine, c.expectMachine);
        assert.ok(info.ram, 'query-migrate reports RAM counters');
        assert.equal(summary.ram.normalPages, info.ram.normal, 'normal pages = query-migrate ram.normal');
        assert.equal(summary.ram.zeroPages, info.ram.duplicate, 'zero pages = query-migrate ram.duplicate');
        assert.equal(summary.ram.normalPages * 4096, info.ram['normal-bytes']);
        assert.deepEqual(
          summary.ram.blocks.map((b) => ({ id: b.id, used: b.length })),
          blocks,
          'RAM block list = info ramblock',
        );
        assert.equal(
          summary.ram.blocks.reduce((s, b) => s + b.length, 0),
          info.ram.total,
        );
        assert.equal(summary.sections.start, 1);
        assert.equal(summary.sections.end, 1);
        assert.ok(summary.sections.part >= 1);
        if (c.bandwidth !== undefined) {
          assert.ok(
            summary.sections.part > 1,
            `several precopy passes expected, got ${summary.sections.part} PART`,
          );
        }
        assert.equal(details.footers, true);
        assert.deepEqual(details.subsections, c.expectSubsections ?? []);
        // The footer scan and QEMU's description agree on every device section, and none was
        // left unchecked (the parser refuses the stream on any disagreement).
        assert.ok(details.description, 'QEMU appended its device description');
        assert.equal(details.description.devices.length, summary.sections.full);
        for (const d of details.description.devices) {
          assert.equal(d.describedBytes, d.streamBytes, `device ${d.idstr}`);
        }
        assert.ok(summary.devices.includes('timer'));
        assert.ok(summary.devices.includes('cpu'));
        if (c.args?.includes('e1000')) assert.ok(summary.devices.some((d) => d.endsWith('/e1000')));
        if (c.args?.includes('virtio-net-pci,netdev=n0')) {
          assert.ok(summary.devices.some((d) => d.endsWith('/virtio-net')));
          assert.ok(summary.devices.includes('slirp'), 'old-style (non-vmstate) device sections too');
        }
      } finally {
        await guest.stop();
      }
    },
  );
}

void test(
  'savevm qemu - a stream without section footers (pc-i440fx-2.3) is refused with a typed error at its first device section',
  { timeout: 120_000 },
  async () => {
    const guest = await startQemu({ machine: 'pc-i440fx-2.3', memory: '64M', paused: true });
    try {
      const file = join(guest.dir, 'stream.savevm');
      await migrateToFile(guest, file);
      const builder = await inspectFile(file).then(
        () => assert.fail('a footer-less stream must not parse'),
        (err: unknown) => err,
      );
      assert.ok(isSavevmError(builder));
      assert.equal(builder.code, 'SAVEVM_DEVICE_UNDELIMITED');
      assert.ok(builder.offset > 0);
    } finally {
      await guest.stop();
    }
  },
);

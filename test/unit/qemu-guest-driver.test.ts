// The QEMU guest driver's pure parts: the command line it builds from a spec, the specs it
// refuses, and the status block it reads back from guest memory.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { qemuGuestCommand } from '../../hosts/guests/qemu/command.ts';
import { QemuGuestSpecError, QemuGuestStatusError } from '../../hosts/guests/qemu/errors.ts';
import { parseQemuGuestStatus } from '../../hosts/guests/qemu/progress.ts';
import { STATUS_OFFSETS, STATUS_SIZE } from '../../hosts/qemu-image/layout.ts';

const spec = {
  vm: 'vm-1',
  memoryMiB: 128,
  qmpSocket: '/run/ferry/vm-1.qmp',
  paused: false,
  incoming: false,
  image: '/var/cache/ferry/guest.elf',
};

/** The value after `flag` in args. */
function after(args: string[], flag: string): string | undefined {
  const i = args.indexOf(flag);
  return i < 0 ? undefined : args[i + 1];
}

void test('qemu guest driver - a headless TCG pc guest booting the image, QMP on the socket', () => {
  const { command, args } = qemuGuestCommand(spec);
  assert.equal(command, '/usr/bin/qemu-system-x86_64');
  assert.equal(after(args, '-accel'), 'tcg');
  assert.equal(after(args, '-machine'), 'pc');
  assert.equal(after(args, '-m'), '128');
  assert.equal(after(args, '-kernel'), spec.image);
  assert.equal(after(args, '-qmp'), 'unix:/run/ferry/vm-1.qmp,server=on,wait=off');
  assert.equal(after(args, '-display'), 'none');
  for (const flag of ['-nodefaults', '-no-user-config']) assert.ok(args.includes(flag), flag);
  for (const absent of ['-S', '-incoming', '-daemonize', '-append', '-serial', '-drive', '-hda']) {
    assert.ok(!args.includes(absent), absent);
  }
});

void test('qemu guest driver - paused, incoming and workload options map to -S, -incoming defer and -append', () => {
  const { args } = qemuGuestCommand({
    ...spec,
    paused: true,
    incoming: true,
    machine: 'q35',
    workingSetMiB: 64,
    delay: 1000,
    flushTlb: false,
    serialLog: '/tmp/serial.log',
  });
  assert.ok(args.includes('-S'));
  assert.equal(after(args, '-incoming'), 'defer');
  assert.equal(after(args, '-machine'), 'q35');
  assert.equal(after(args, '-append'), 'ws=64 delay=1000 flush=0');
  assert.equal(after(args, '-serial'), 'file:/tmp/serial.log');
});

void test('qemu guest driver - bad specs are refused with the field named', () => {
  const bad: [Record<string, unknown>, RegExp][] = [
    [{ image: 'guest.elf' }, /image: must be an absolute path/],
    [{ qmpSocket: `/${'x'.repeat(120)}` }, /qmpSocket: too long/],
    [{ vm: 'a,b' }, /vm:/],
    [{ memoryMiB: 4096 }, /memoryMiB/],
    [{ memoryMiB: 1.5 }, /memoryMiB/],
    [{ workingSetMiB: 127 }, /workingSetMiB: the working set/],
    [{ machine: 'virt' }, /machine/],
    [{ paused: 'yes' }, /paused/],
  ];
  for (const [change, message] of bad) {
    assert.throws(
      () => qemuGuestCommand({ ...spec, ...change }),
      (err: unknown) => err instanceof QemuGuestSpecError && message.test(err.message),
      JSON.stringify(change),
    );
  }
});

void test('qemu guest driver - the status block is parsed field by field and a foreign one refused', () => {
  const block = Buffer.alloc(STATUS_SIZE);
  block.write('FERRYGST', STATUS_OFFSETS.magic, 'latin1');
  block.writeUInt32LE(1, STATUS_OFFSETS.version);
  block.writeUInt32LE(0x2badb002, STATUS_OFFSETS.bootMagic);
  block.writeUInt32LE(7, STATUS_OFFSETS.passes);
  block.writeBigUInt64LE(0x1_0000_0005n, STATUS_OFFSETS.pagesWritten);
  block.writeUInt32LE(0x200000, STATUS_OFFSETS.workingSetBase);
  block.writeUInt32LE(8 << 20, STATUS_OFFSETS.workingSetBytes);
  block.writeUInt32LE(1, STATUS_OFFSETS.flush);
  const progress = parseQemuGuestStatus(block);
  assert.equal(progress.passes, 7);
  assert.equal(progress.pagesWritten, 2 ** 32 + 5);
  assert.equal(progress.bootMagic, 0x2badb002);
  assert.equal(progress.workingSetBytes, 8 << 20);
  assert.equal(progress.errors, 0);
  assert.equal(progress.flush, 1);

  assert.throws(() => parseQemuGuestStatus(Buffer.alloc(STATUS_SIZE)), QemuGuestStatusError);
  assert.throws(() => parseQemuGuestStatus(block.subarray(0, 8)), QemuGuestStatusError);
  const future = Buffer.from(block);
  future.writeUInt32LE(2, STATUS_OFFSETS.version);
  assert.throws(() => parseQemuGuestStatus(future), /version 2/);
});

// ferry's guest image under real QEMU: it boots through QEMU's Multiboot loader, its counters
// grow, and it really changes memory (what precopy will have to resend).
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { buildGuestImage } from '../hosts/qemu-image/build.ts';
import { MULTIBOOT_BOOT_MAGIC, WORKING_SET_BASE } from '../hosts/qemu-image/layout.ts';
import { qemuMemoryDigest, qemuRangeDigest } from '../hosts/guests/qemu/digest.ts';
import { QemuGuestNotPausedError } from '../hosts/guests/qemu/errors.ts';
import { launchQemuGuest } from '../hosts/guests/qemu/launch.ts';
import type { LaunchedQemuGuest } from '../hosts/guests/qemu/launch.ts';
import type { QemuGuestProgress } from '../hosts/guests/qemu/progress.ts';
import { readQemuGuestProgress } from '../hosts/guests/qemu/progress.ts';
import { ensureQemu } from '../lab/qemu.ts';

const MEMORY_MIB = 64;
const WORKING_SET_MIB = 16;

let dir: string;
let guest: LaunchedQemuGuest | undefined;

before(async () => {
  ensureQemu();
  dir = await mkdtemp(join(tmpdir(), 'ferry-qemu-boot-'));
  const image = await buildGuestImage(join(tmpdir(), 'ferry-guest-images'));
  guest = await launchQemuGuest({
    vm: 'boot',
    memoryMiB: MEMORY_MIB,
    qmpSocket: join(dir, 'qmp.sock'),
    paused: false,
    incoming: false,
    image,
    workingSetMiB: WORKING_SET_MIB,
    delay: 100,
    serialLog: join(dir, 'serial.log'),
  });
});

after(async () => {
  await guest?.kill();
  await rm(dir, { recursive: true, force: true });
});

/**
 * Polls until the guest program runs: the option ROM copies the image (status block included)
 * into RAM first, and only then jumps to it.
 */
async function booted(g: LaunchedQemuGuest): Promise<QemuGuestProgress> {
  for (let i = 0; i < 100; i++) {
    const progress = await readQemuGuestProgress(g.qmp, dir).catch(() => undefined);
    if (progress !== undefined && progress.pagesWritten > 0) return progress;
    await sleep(100);
  }
  assert.fail('the guest program did not start within 10 s');
}

void test('qemu guest boot - Multiboot starts the image with the parameters from -append', async () => {
  const g = guest!;
  const progress = await booted(g);
  assert.equal(progress.bootMagic, MULTIBOOT_BOOT_MAGIC, 'entered from a Multiboot loader');
  assert.equal(progress.workingSetBase, WORKING_SET_BASE);
  assert.equal(progress.workingSetBytes, WORKING_SET_MIB << 20);
  assert.equal(progress.delay, 100);
  assert.equal(progress.flush, 1);
  // QEMU reports RAM above 1 MiB; the guest read it from the Multiboot info.
  assert.ok(progress.memUpperKiB > (MEMORY_MIB - 2) * 1024 && progress.memUpperKiB < MEMORY_MIB * 1024);
  assert.match(await readFile(join(dir, 'serial.log'), 'utf8'), /ferry guest: dirtying memory/);
});

void test('qemu guest boot - the counters grow while it runs and its own checks find no bad page', async () => {
  const g = guest!;
  const a = await booted(g);
  // Pass 0 finds whatever RAM held and checks nothing: "no bad page" means something only once a
  // whole pass has checked the values of the one before it.
  const deadline = Date.now() + 10_000;
  let b = await readQemuGuestProgress(g.qmp, dir);
  while (b.passes < 2) {
    if (Date.now() > deadline)
      assert.fail(`the guest did not complete 2 passes within 10 s: ${JSON.stringify(b)}`);
    await sleep(200);
    b = await readQemuGuestProgress(g.qmp, dir);
  }
  assert.ok(b.pagesWritten > a.pagesWritten, `pages written ${a.pagesWritten} -> ${b.pagesWritten}`);
  // A pass is one write to each page of the working set (read at any moment, possibly between the
  // last page of a pass and the count of it).
  const pagesPerPass = (WORKING_SET_MIB << 20) / 4096;
  const wholePasses = Math.floor(b.pagesWritten / pagesPerPass);
  assert.ok(
    b.passes === wholePasses || b.passes === wholePasses - 1,
    `${b.passes} passes for ${b.pagesWritten} pages written (${pagesPerPass} a pass)`,
  );
  assert.equal(b.errors, 0);
});

void test('qemu guest boot - the working set changes over time, and a paused guest has one digest', async () => {
  const g = guest!;
  await booted(g);
  const range = { address: WORKING_SET_BASE, size: WORKING_SET_MIB << 20 };
  const first = await qemuRangeDigest(g.qmp, range, dir);
  await sleep(500);
  const second = await qemuRangeDigest(g.qmp, range, dir);
  assert.notEqual(second, first, 'the guest dirtied its working set');

  await assert.rejects(qemuMemoryDigest(g.qmp, MEMORY_MIB, dir), QemuGuestNotPausedError);
  await g.qmp.execute('stop');
  try {
    const whole = await qemuMemoryDigest(g.qmp, MEMORY_MIB, dir);
    assert.match(whole, /^[0-9a-f]{64}$/);
    assert.equal(await qemuMemoryDigest(g.qmp, MEMORY_MIB, dir), whole, 'stopped: memory does not move');
  } finally {
    await g.qmp.execute('cont');
  }
  const after = await readQemuGuestProgress(g.qmp, dir);
  await sleep(300);
  assert.ok(
    (await readQemuGuestProgress(g.qmp, dir)).pagesWritten > after.pagesWritten,
    'runs again after cont',
  );
});

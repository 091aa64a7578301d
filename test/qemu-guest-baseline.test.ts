// The direct baseline: a 256 MiB guest migrated QEMU to QEMU over a unix socket, uncapped. The
// tunnel benchmark compares its own figure for the same guest (baseline.ts) against this one.
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { buildGuestImage } from '../hosts/qemu-image/build.ts';
import { BASELINE_GUEST, BASELINE_PARAMETERS } from '../hosts/guests/qemu/baseline.ts';
import { qemuMemoryDigest } from '../hosts/guests/qemu/digest.ts';
import { launchQemuGuest } from '../hosts/guests/qemu/launch.ts';
import type { LaunchedQemuGuest } from '../hosts/guests/qemu/launch.ts';
import { migrateDirect } from '../hosts/guests/qemu/migration.ts';
import { readQemuGuestProgress } from '../hosts/guests/qemu/progress.ts';
import { ensureQemu } from '../lab/qemu.ts';

const started: LaunchedQemuGuest[] = [];
const dirs: string[] = [];

after(async () => {
  for (const guest of started) await guest.kill();
  for (const dir of dirs) await rm(dir, { recursive: true, force: true });
});

void test('qemu guest baseline - a 256 MiB guest migrates directly, uncapped, with its RAM intact', async (t) => {
  ensureQemu();
  const dir = await mkdtemp(join(tmpdir(), 'ferry-qemu-base-'));
  dirs.push(dir);
  const image = await buildGuestImage(join(tmpdir(), 'ferry-guest-images'));
  const spec = { ...BASELINE_GUEST, image };
  const source = await launchQemuGuest({
    ...spec,
    vm: 'base-src',
    qmpSocket: join(dir, 's.sock'),
    paused: false,
    incoming: false,
  });
  started.push(source);
  const destination = await launchQemuGuest({
    ...spec,
    vm: 'base-dst',
    qmpSocket: join(dir, 'd.sock'),
    paused: true,
    incoming: true,
  });
  started.push(destination);
  // Let the guest fill its working set, so the baseline carries 64 MiB of real pages.
  // Until the guest program runs its status block is not in RAM yet: a failed read is retried.
  const filledBy = Date.now() + 60_000;
  for (let passes = 0, last = 'nothing read'; passes < 1; await sleep(200)) {
    assert.ok(Date.now() < filledBy, `the guest completed a pass over its working set within 60 s (${last})`);
    const read = await readQemuGuestProgress(source.qmp, dir).then(
      (p) => p,
      (err: Error) => err,
    );
    if (read instanceof Error) last = read.message;
    else [passes, last] = [read.passes, `${read.pagesWritten} pages written`];
  }

  const began = performance.now();
  const info = await migrateDirect(source.qmp, destination.qmp, {
    socket: join(dir, 'migrate.sock'),
    parameters: BASELINE_PARAMETERS,
  });
  const wallMs = Math.round(performance.now() - began);
  const ram = info.ram!;
  t.diagnostic(
    `qemuDirect ${BASELINE_GUEST.memoryMiB} MiB: wall ${wallMs} ms (migrate to destination loaded), total-time ${info['total-time']} ms, ` +
      `downtime ${info.downtime} ms, dirty-sync-count ${ram['dirty-sync-count']}, transferred ${ram.transferred} B, ` +
      `normal ${ram.normal} pages, zero ${ram.duplicate} pages, ${ram.mbps?.toFixed(0)} Mbit/s`,
  );
  assert.equal(info.status, 'completed');
  assert.ok(ram.normal >= (BASELINE_GUEST.workingSetMiB << 20) / 4096, 'the working set went over');
  assert.equal(
    await qemuMemoryDigest(destination.qmp, BASELINE_GUEST.memoryMiB, dir),
    await qemuMemoryDigest(source.qmp, BASELINE_GUEST.memoryMiB, dir),
  );
});

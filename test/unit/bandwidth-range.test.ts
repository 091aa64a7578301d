// `--bandwidth` within what QEMU can be sent exactly, at the CLI and at the agent's phases.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { test } from 'node:test';
import { promisify } from 'node:util';
import { ApplicationFailure } from '@temporalio/activity';
import { createSourceActivities } from '../../activities/migration/source.ts';
import type { PhaseDeps } from '../../activities/migration/deps.ts';
import { migrateOut } from '../../hosts/agent/migration.ts';
import {
  BandwidthOptionSchema,
  BandwidthRangeError,
  MAX_BANDWIDTH_MIBPS,
  MiB,
  bandwidthBytesPerSec,
} from '../../protocol/bandwidth.ts';

const CLI = join(import.meta.dirname, '..', '..', 'cli', 'bin.mjs');

/** Deps that fail the test if a phase touches anything: a refused input must be refused first. */
const untouchable = new Proxy({} as PhaseDeps, {
  get: (_t, dep) =>
    dep === 'host'
      ? 'host-a'
      : new Proxy(
          {},
          {
            get: (_u, name) => {
              throw new Error(`the phase used deps.${String(dep)}.${String(name)} before checking its input`);
            },
          },
        ),
});

test('bandwidth range - the option takes 1 to the largest MiB/s whose bytes per second stay exact', () => {
  assert.equal(MAX_BANDWIDTH_MIBPS, 8589934591);
  assert.ok(Number.isSafeInteger(MAX_BANDWIDTH_MIBPS * MiB));
  assert.ok(!Number.isSafeInteger((MAX_BANDWIDTH_MIBPS + 1) * MiB));
  assert.equal(BandwidthOptionSchema.parse('1'), 1);
  assert.equal(BandwidthOptionSchema.parse(String(MAX_BANDWIDTH_MIBPS)), MAX_BANDWIDTH_MIBPS);
  for (const bad of ['0', '-1', '1.5', String(MAX_BANDWIDTH_MIBPS + 1), '1e30', 'fast']) {
    const r = BandwidthOptionSchema.safeParse(bad);
    assert.equal(r.success, false, bad);
    assert.equal(
      r.error?.issues[0]?.message,
      `the bandwidth must be a whole number of MiB/s from 1 to ${MAX_BANDWIDTH_MIBPS}`,
    );
  }
});

test('bandwidth range - a phase converts 0 (no limit) to the top of the range and refuses beyond it with a typed error', () => {
  assert.equal(bandwidthBytesPerSec(0, 'x'), 0);
  assert.equal(bandwidthBytesPerSec(MAX_BANDWIDTH_MIBPS, 'x'), MAX_BANDWIDTH_MIBPS * MiB);
  for (const bad of [-1, 0.5, MAX_BANDWIDTH_MIBPS + 1, Number.NaN]) {
    assert.throws(
      () => bandwidthBytesPerSec(bad, 'max-bandwidth of m-1'),
      (err: Error) =>
        err instanceof BandwidthRangeError &&
        /^max-bandwidth of m-1: .* MiB\/s is out of range/.test(err.message),
    );
  }
});

test('bandwidth range - srcSetSpeed and srcPerform refuse an out-of-range bandwidth before they touch anything', async () => {
  const src = createSourceActivities(untouchable);
  const refusedAs = (err: unknown) => {
    assert.ok(err instanceof ApplicationFailure, String(err));
    assert.equal(err.type, 'BandwidthOutOfRange');
    assert.equal(err.nonRetryable, true);
    assert.match(err.message, /out of range: 0 \(no limit\) to 8589934591/);
    return true;
  };
  await assert.rejects(
    src.srcSetSpeed({
      migrationId: 'm-1',
      vm: 'vm-1',
      maxDowntimeMs: 300,
      bandwidthMiBps: MAX_BANDWIDTH_MIBPS + 1,
    }),
    refusedAs,
  );
  await assert.rejects(
    src.srcPerform({
      migrationId: 'm-1',
      vm: 'vm-1',
      destination: 'host-b',
      cookie: '',
      maxDowntimeMs: 300,
      bandwidthMiBps: -5,
      tunnelBandwidthMiBps: 0,
      progressTimeoutMs: 1000,
      via: null,
    }),
    refusedAs,
  );
});

test('bandwidth range - the agent refuses a byte rate QEMU would not receive exactly', async () => {
  await assert.rejects(
    migrateOut(
      untouchable,
      {
        migrationId: 'm-2',
        vm: 'vm-1',
        destination: { host: '127.0.0.1', port: 1 },
        token: 't',
        maxBandwidthBytesPerSec: 2 ** 60,
        progressTimeoutMs: 1000,
      },
      () => undefined,
    ),
    (err: Error) =>
      err instanceof BandwidthRangeError &&
      /max-bandwidth of m-2: .* bytes\/s is out of range/.test(err.message),
  );
});

test('bandwidth range - ferry migrate refuses an out-of-range --bandwidth with one line and a non-zero exit', async () => {
  const r = await promisify(execFile)(
    process.execPath,
    [CLI, 'migrate', 'vm-1', '--to', 'host-b', '--bandwidth', String(MAX_BANDWIDTH_MIBPS + 1)],
    { timeout: 120_000 },
  ).then(
    () => assert.fail('ferry migrate accepted the bandwidth'),
    (err: { code: number; stderr: string }) => err,
  );
  assert.equal(r.code, 2);
  assert.equal(
    r.stderr,
    `ferry: invalid input: bandwidthMiBps: the bandwidth must be a whole number of MiB/s from 1 to ${MAX_BANDWIDTH_MIBPS}\n`,
  );
});

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Harness, buildStream, sha256 } from './tunnel-harness.ts';

const MiB = 1024 * 1024;

async function migrate(h: Harness, stream: Buffer, limit: number, raiseAfterMs?: number): Promise<number> {
  const target = h.path(`dst-${h.tunnels.length}.sock`);
  const dst = await h.destinationGuest(target);
  const { migrationId, token, tunnel } = h.expect(target);
  const source = await h.source(migrationId, token, { bandwidthLimitBytesPerSec: limit });
  const started = performance.now();
  const timer =
    raiseAfterMs === undefined ? undefined : setTimeout(() => source.setBandwidth(null), raiseAfterMs);
  h.sourceGuest(source.socketPath, stream);
  await Promise.all([source.completion, tunnel.completion]);
  clearTimeout(timer);
  const seconds = (performance.now() - started) / 1000;
  assert.equal(sha256((await dst.received).bytes), sha256(stream));
  return seconds;
}

test('tunnel throttle - 60 MiB at 20 MiB/s takes at least 2.5 s, and lifting the limit on the fly shortens it', async () => {
  const h = await Harness.create();
  try {
    const stream = buildStream(Math.ceil((60 * MiB) / (PAGE_PLUS * 1.125)));
    assert.ok(stream.length >= 59 * MiB, `stream of ${stream.length} bytes`);
    const limited = await migrate(h, stream, 20 * MiB);
    assert.ok(limited >= 2.5, `took ${limited.toFixed(2)} s`);
    const raised = await migrate(h, stream, 20 * MiB, 500);
    assert.ok(
      raised < limited - 1,
      `limited ${limited.toFixed(2)} s, raised after 0.5 s ${raised.toFixed(2)} s`,
    );
  } finally {
    await h.cleanup();
  }
});

/** A page record of buildStream: flags/address, then 4 KiB (one in eight zero in the first pass, a quarter resent in the second). */
const PAGE_PLUS = 4096 + 8;

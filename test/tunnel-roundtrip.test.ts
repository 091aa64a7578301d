import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { Harness, buildStream, sha256 } from './tunnel-harness.ts';
import type { TunnelEvent } from '../hosts/tunnel/events.ts';

function sectionTypes(events: TunnelEvent[]): string[] {
  return events.flatMap((e) => (e.type === 'savevm' ? [`${e.event.type}@${e.event.offset}`] : []));
}

test('tunnel - carries a savevm stream intact both ways, parsed on both sides', async () => {
  const h = await Harness.create();
  try {
    const stream = buildStream(4096); // ~17 MiB
    const returnPath = Buffer.from('switchover-ack and friends: return path bytes');
    const target = h.path('dst-guest.sock');
    const dst = await h.destinationGuest(target, returnPath);
    const { migrationId, token, tunnel: destination } = h.expect(target);
    const source = await h.source(migrationId, token);
    assert.ok(existsSync(source.socketPath), 'source socket exists for the guest');
    const guest = h.sourceGuest(source.socketPath, stream, { chunk: 7919 });

    const [srcResult, dstResult, received, returned] = await Promise.all([
      source.completion,
      destination.completion,
      dst.received,
      guest.returned,
    ]);

    assert.equal(received.bytes.length, stream.length);
    assert.equal(sha256(received.bytes), sha256(stream));
    assert.deepEqual(returned.bytes, returnPath);
    for (const r of [srcResult, dstResult]) {
      assert.equal(r.eof, true);
      assert.deepEqual(r.bytes, { toDestination: stream.length, toSource: returnPath.length });
      assert.equal(r.summary.bytes, stream.length);
      assert.equal(r.summary.machine, 'pc-i440fx-7.2');
      assert.deepEqual(r.summary.sections, { start: 1, part: 1, end: 1, full: 3 });
      assert.deepEqual(r.summary.devices, ['timer', 'cpu', 'serial']);
    }
    const seenAtSource = sectionTypes(h.sourceEvents);
    assert.deepEqual(
      seenAtSource.map((x) => x.split('@')[0]),
      ['header', 'configuration', 'section-start', 'section-part', 'section-end'].concat([
        'section-full',
        'section-full',
        'section-full',
        'eof',
        'vmdescription',
      ]),
    );
    assert.deepEqual(sectionTypes(h.destinationEvents), seenAtSource);
    for (const events of [h.sourceEvents, h.destinationEvents]) {
      assert.equal(events[0]?.type, 'tunnel-opened');
      assert.equal(events.at(-1)?.type, 'tunnel-closed');
    }
    assert.equal(existsSync(source.socketPath), false, 'source socket file removed');
    assert.equal(dst.connections, 1);
  } finally {
    await h.cleanup();
  }
});

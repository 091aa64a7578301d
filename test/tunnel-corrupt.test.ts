// What the tunnel can and cannot detect: the parser checks the stream's structure (magic, section
// types and headers, RAM flags, blocks and address ranges, footers, device boundaries against
// the description, EOF and what follows it), never the contents of pages or device states.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Harness, buildStream, rng, sha256 } from './tunnel-harness.ts';
import { SavevmParser } from '../hosts/savevm/parser.ts';
import { TunnelError, isTunnelError } from '../hosts/tunnel/errors.ts';
import type { TunnelResult } from '../hosts/tunnel/tunnel-end.ts';

type Outcome = { ok: true; result: TunnelResult } | { ok: false; err: TunnelError };

async function outcome(p: Promise<TunnelResult>): Promise<Outcome> {
  try {
    return { ok: true, result: await p };
  } catch (err) {
    assert.ok(isTunnelError(err), String(err));
    return { ok: false, err };
  }
}

function flipped(stream: Buffer, at: number): Buffer {
  const copy = Buffer.from(stream);
  copy[at] = copy[at]! ^ 0xff;
  return copy;
}

/**
 * Byte ranges whose contents the parser does not (cannot) check: page records (payload, and an
 * address that stays inside its block), the address bits of each section's EOS record (unused, by
 * QEMU too), the RAM section's instance and version ids, the machine name's characters (the destination QEMU checks it, not the stream), device
 * states, the description's values.
 */
function opaqueRanges(stream: Buffer): [number, number][] {
  const ranges: [number, number][] = [];
  const parser = new SavevmParser({
    onPage: (p) => {
      const end = p.data
        ? p.data.byteOffset - stream.byteOffset + p.data.length
        : p.offset + 10 + p.block.length;
      ranges.push([p.offset, end]);
    },
  });
  const events = [...parser.push(stream), ...parser.end()];
  for (const e of events) {
    if (e.type === 'section-full') ranges.push([e.offset + 14 + e.idstr.length, e.offset + e.bytes - 5]);
    if (e.type === 'configuration') ranges.push([e.offset + 5, e.offset + 5 + e.machine.length]);
    if (e.type === 'section-start')
      ranges.push([e.offset + 6 + e.idstr.length, e.offset + 14 + e.idstr.length]);
    if (e.type === 'section-start' || e.type === 'section-part' || e.type === 'section-end') {
      const eos = e.offset + e.bytes - 5 - 8;
      ranges.push([eos, eos + 7]);
    }
    if (e.type === 'vmdescription') ranges.push([e.offset, e.offset + e.bytes]);
  }
  return ranges;
}

async function run(h: Harness, stream: Buffer) {
  const target = h.path(`dst-${h.tunnels.length}.sock`);
  const dst = await h.destinationGuest(target);
  const { migrationId, token, tunnel } = h.expect(target);
  const source = await h.source(migrationId, token);
  const guest = h.sourceGuest(source.socketPath, stream, { chunk: 16 * 1024 });
  const [src, dest] = await Promise.all([outcome(source.completion), outcome(tunnel.completion)]);
  await guest.returned;
  return { src, dest, received: (await dst.received).bytes };
}

test('tunnel corrupt - structural corruption tears the tunnel down at the parser offset', async () => {
  const h = await Harness.create();
  try {
    const clean = buildStream(1024);
    const parser = new SavevmParser();
    const events = [...parser.push(clean), ...parser.end()];
    const device = events.find((e) => e.type === 'section-full');
    const end = events.find((e) => e.type === 'section-end');
    assert.ok(device && end);
    for (const [at, savevmCode] of [
      [0, 'SAVEVM_BAD_MAGIC'],
      [device.offset, 'SAVEVM_UNKNOWN_SECTION_TYPE'],
      [end.offset + end.bytes - 1, 'SAVEVM_BAD_FOOTER'],
    ] as const) {
      const { src, dest, received } = await run(h, flipped(clean, at));
      assert.ok(!src.ok, `flip at ${at} must be refused`);
      assert.equal(src.err.code, 'TUNNEL_CORRUPT_STREAM');
      assert.equal((src.err.cause as { code: string }).code, savevmCode);
      assert.ok(
        src.err.offset <= at && src.err.offset >= at - 8,
        `parser offset ${src.err.offset} for a flip at ${at}`,
      );
      // The chunk holding the bad bytes was not passed on: the destination guest saw a clean prefix, then EOF.
      assert.ok(!dest.ok && dest.err.code === 'TUNNEL_BROKEN', 'destination fails too');
      assert.equal(dest.err.offset, received.length);
      assert.ok(received.length <= at);
      assert.ok(received.equals(clean.subarray(0, received.length)));
    }
  } finally {
    await h.cleanup();
  }
});

test('tunnel corrupt - a flipped page payload byte cannot be detected and arrives as sent', async () => {
  const h = await Harness.create();
  try {
    const clean = buildStream(1024);
    const [start, end] = opaqueRanges(clean)[10]!;
    const bad = flipped(clean, end - 100);
    assert.ok(end - 100 > start);
    const { src, dest, received } = await run(h, bad);
    assert.ok(src.ok && dest.ok && dest.result.eof);
    assert.equal(sha256(received), sha256(bad));
    assert.notEqual(sha256(received), sha256(clean));
  } finally {
    await h.cleanup();
  }
});

test('tunnel corrupt - random flips are refused, or lie where only memory contents can tell', async () => {
  const h = await Harness.create();
  try {
    const clean = buildStream(512);
    const opaque = opaqueRanges(clean);
    const random = rng(2024);
    // Half the flips in the first 400 bytes, where the structure is dense, half anywhere.
    const offsets = Array.from({ length: 12 }, (_, i) => Math.floor(random() * (i % 2 ? clean.length : 400)));
    let refused = 0;
    for (const at of offsets) {
      const bad = flipped(clean, at);
      const { src, dest, received } = await run(h, bad);
      if (src.ok) {
        assert.ok(dest.ok, `flip at ${at}: the destination parses what the source parsed`);
        assert.ok(
          opaque.some(([a, b]) => at >= a && at < b),
          `flip at ${at} passed undetected outside page, device or description bytes`,
        );
        assert.equal(sha256(received), sha256(bad));
      } else {
        refused++;
        assert.ok(['TUNNEL_CORRUPT_STREAM', 'TUNNEL_BROKEN'].includes(src.err.code), src.err.message);
        assert.ok(src.err.offset >= 0 && src.err.offset <= clean.length);
        assert.ok(!dest.ok, `flip at ${at}: destination must not complete`);
        assert.ok(received.length < clean.length, 'the destination guest never gets a whole stream');
      }
    }
    assert.ok(refused > 0, 'flips in the dense header area are caught');
  } finally {
    await h.cleanup();
  }
});

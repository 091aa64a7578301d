import assert from 'node:assert/strict';
import { test } from 'node:test';
import { PageFlipper, type FlipPass } from '../../drills/page-flip.ts';
import { SavevmParser } from '../../hosts/savevm/parser.ts';
import { encodeFrame } from '../../hosts/tunnel/frame.ts';
import { page, written } from './savevm-helpers.ts';

const BLOCKS = [{ id: 'pc.ram', length: 256 * 4096 }];
const HEADER = encodeFrame({ version: 1, migrationId: 'm-1', token: 'x'.repeat(43) });

/** A tunnel connection's bytes: the header frame, then a stream of 100 pages and a final pass of `final` pages. */
function connection(final: number): Buffer {
  const stream = written({ machine: 'pc-i440fx-7.2', blocks: BLOCKS }, (w) => {
    w.header().ramStart();
    const pass = w.ramSection();
    for (let i = 0; i < 100; i++) pass.page('pc.ram', i * 4096, i % 3 === 2 ? null : page(i + 1));
    pass.endRamSection();
    const end = w.ramSection(true);
    for (let i = 0; i < final; i++) end.page('pc.ram', (200 + i) * 4096, page(1000 + i));
    end.endRamSection();
    w.eof();
  });
  return Buffer.concat([HEADER, stream]);
}

/** Passes `bytes` through a flipper in chunks of the given sizes (cycled), flipping what it picks. */
function passThrough(bytes: Buffer, flipper: PageFlipper, sizes: number[]): Buffer {
  const out: Buffer[] = [];
  for (let at = 0, i = 0; at < bytes.length; i++) {
    const chunk = Buffer.from(bytes.subarray(at, at + sizes[i % sizes.length]!));
    const flip = flipper.inspect(chunk);
    if (flip !== undefined) chunk[flip - at] = chunk[flip - at]! ^ 0xff;
    out.push(chunk);
    at += chunk.length;
  }
  return Buffer.concat(out);
}

/** The normal pages of a connection's stream: where their data lies in the connection, and their section. */
function pagesOf(bytes: Buffer) {
  const pages: { address: number; section: string; start: number }[] = [];
  const parser = new SavevmParser({
    verifyDescription: false,
    onPage: (p) => {
      if (p.data === null) return;
      pages.push({
        address: p.address,
        section: parser.current!.section,
        start: HEADER.length + parser.offset - 4096,
      });
    },
  });
  parser.push(bytes.subarray(HEADER.length));
  parser.end();
  return pages;
}

const CHUNKINGS = [[1 << 20], [4096], [1000, 37], [1]];

for (const pass of ['final', 'any'] as FlipPass[]) {
  test(`drill page flip - ${pass}: exactly one byte flipped, in the data of the same page however the stream is chunked`, () => {
    const original = connection(5);
    const pages = pagesOf(original);
    const chosen = new Set<number>();
    for (const sizes of CHUNKINGS) {
      const flipper = new PageFlipper(11, pass);
      const flipped = passThrough(original, flipper, sizes);
      const differ = [...flipped.keys()].filter((i) => flipped[i] !== original[i]);
      assert.deepEqual(
        differ,
        [flipper.chosen?.connectionOffset],
        `one byte, where it says (chunks ${sizes.join(',')})`,
      );
      const hit = pages.find((p) => differ[0]! >= p.start && differ[0]! < p.start + 4096);
      assert.ok(hit, `the byte is in a page's data (chunks ${sizes.join(',')})`);
      const want = pass === 'final' ? pages.find((p) => p.section === 'end') : pages[flipper.pageIndex];
      assert.equal(hit.address, want?.address, `the chosen page (chunks ${sizes.join(',')})`);
      assert.equal(flipper.chosen?.section, hit.section);
      chosen.add(hit.address);
    }
    assert.equal(chosen.size, 1);
  });
}

test('drill page flip - the seed picks the byte; the same seed the same byte', () => {
  const at = (seed: number) => {
    const f = new PageFlipper(seed, 'final');
    passThrough(connection(3), f, [1 << 20]);
    return f.chosen?.byte;
  };
  assert.equal(at(11), at(11));
  assert.notEqual(at(11), at(12));
});

test('drill page flip - a final pass without pages is missed, once the stream ended, and nothing is flipped', () => {
  const original = connection(0);
  const flipper = new PageFlipper(11, 'final');
  const out = passThrough(original, flipper, [4096]);
  assert.ok(out.equals(original));
  assert.equal(flipper.chosen, null);
  assert.match(flipper.missed ?? '', /ended without a page of the final pass/);
});

test('drill page flip - a connection that is not a tunnel is missed', () => {
  const flipper = new PageFlipper(11, 'final');
  assert.equal(flipper.inspect(Buffer.from('GET / HTTP/1.1\r\n')), undefined);
  assert.match(flipper.missed ?? '', /tunnel header frame/);
});

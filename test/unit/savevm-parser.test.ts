import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isSavevmError } from '../../hosts/savevm/errors.ts';
import type { SavevmEvent } from '../../hosts/savevm/events.ts';
import { SavevmParser } from '../../hosts/savevm/parser.ts';
import { SummaryBuilder } from '../../hosts/savevm/summary.ts';
import { FIXTURE_FACTS, page, parse, realStream, sampleStream } from './savevm-helpers.ts';

function summarize(events: SavevmEvent[]): SummaryBuilder {
  const b = new SummaryBuilder();
  for (const e of events) b.add(e);
  return b;
}

void test('savevm parser - the real QEMU fixture parses to its end with the page counts query-migrate reported', () => {
  const bytes = realStream();
  const events = parse(bytes, [65536]);
  const { summary, details } = summarize(events);
  assert.equal(bytes.length, FIXTURE_FACTS.bytes);
  assert.equal(summary.machine, 'pc-i440fx-7.2');
  assert.equal(summary.ram.normalPages, FIXTURE_FACTS.queryMigrate.normal);
  assert.equal(summary.ram.zeroPages, FIXTURE_FACTS.queryMigrate.duplicate);
  assert.equal(
    summary.ram.blocks.reduce((s, b) => s + b.length, 0),
    FIXTURE_FACTS.queryMigrate.total,
  );
  assert.equal(summary.sections.full, FIXTURE_FACTS.devices);
  assert.deepEqual(summary.sections, { start: 1, part: 1, end: 1, full: 30 });
  assert.equal(summary.eof, true);
  assert.ok(details.description?.devices.every((d) => d.describedBytes === d.streamBytes));
});

void test('savevm parser - one byte at a time gives exactly the events of one big chunk (real and written streams)', () => {
  for (const bytes of [realStream(), sampleStream()]) {
    const whole = parse(bytes);
    assert.deepEqual(parse(bytes, [1]), whole);
    assert.deepEqual(parse(bytes, [7, 1, 4096, 3, 5000]), whole);
  }
});

void test('savevm parser - events carry the byte offset and size of each item, and tile the stream', () => {
  const bytes = sampleStream();
  const events = parse(bytes);
  assert.deepEqual(
    events.map((e) => e.type),
    [
      'header',
      'configuration',
      'section-start',
      'section-part',
      'section-part',
      'section-end',
      'section-full',
      'section-full',
      'section-full',
      'eof',
      'vmdescription',
    ],
  );
  let at = 0;
  for (const e of events) {
    assert.equal(e.offset, at, `${e.type} starts where the previous item ended`);
    at += e.type === 'eof' ? 1 : e.bytes;
  }
  assert.equal(at, bytes.length);
  const [, config, start, part1, part2, end, timer, cpu] = events;
  assert.deepEqual(config, { type: 'configuration', offset: 8, bytes: 18, machine: 'pc-i440fx-7.2' });
  assert.equal(start?.type, 'section-start');
  assert.deepEqual(start.blocks, [
    { id: 'pc.ram', length: 262144 },
    { id: 'pc.rom', length: 16384 },
  ]);
  assert.deepEqual(part1?.type === 'section-part' && part1.ram, {
    normalPages: 2,
    zeroPages: 1,
    pageBytes: 8192,
  });
  assert.deepEqual(part2?.type === 'section-part' && part2.ram, {
    normalPages: 1,
    zeroPages: 0,
    pageBytes: 4096,
  });
  assert.deepEqual(end?.type === 'section-end' && end.ram, { normalPages: 1, zeroPages: 1, pageBytes: 4096 });
  assert.equal(timer?.type === 'section-full' && timer.deviceBytes, 24);
  // The cpu state holds bytes that look like a footer of section 1 followed by a FULL header;
  // the scan must not stop there because what follows is not a valid section.
  assert.equal(cpu?.type === 'section-full' && cpu.deviceBytes, 17);
});

void test('savevm parser - pages reach onPage with their payload, as views of the pushed chunk when they fit in it', () => {
  const bytes = sampleStream();
  const pages: { block: string; address: number; data: Buffer | null }[] = [];
  let views = 0;
  const parser = parse(bytes, [bytes.length], {
    onPage: (p) => {
      pages.push({ block: p.block, address: p.address, data: p.data && Buffer.from(p.data) });
      if (p.data && p.data.buffer === bytes.buffer) views++;
    },
  });
  assert.ok(parser.length > 0);
  assert.deepEqual(
    pages.map((p) => [p.block, p.address, p.data === null ? 'zero' : p.data.equals(page(0)) ? '?' : 'data']),
    [
      ['pc.ram', 0, 'data'],
      ['pc.ram', 4096, 'zero'],
      ['pc.rom', 0, 'data'],
      ['pc.ram', 0, 'data'],
      ['pc.ram', 8192, 'data'],
      ['pc.ram', 12288, 'zero'],
    ],
  );
  assert.ok(pages[0]?.data?.equals(page(1)));
  assert.ok(pages[3]?.data?.equals(page(3)));
  assert.equal(views, 4, 'no page was copied');
});

void test('savevm parser - a QEMU_VM_COMMAND is listed with its length honoured', () => {
  const bytes = sampleStream();
  // Insert a PING command (id 2, length 4) right after the configuration section.
  const ping = Buffer.from([0x08, 0x00, 0x02, 0x00, 0x04, 0, 0, 0, 1]);
  const withPing = Buffer.concat([bytes.subarray(0, 26), ping, bytes.subarray(26)]);
  const events = parse(withPing, [1]);
  const command = events.find((e) => e.type === 'command');
  assert.deepEqual(command, {
    type: 'command',
    offset: 26,
    bytes: 9,
    command: 2,
    name: 'ping',
    length: 4,
    packagedBytes: 0,
  });
  assert.equal(events.at(-1)?.type, 'vmdescription');
});

void test('savevm parser - a push after a failure rethrows the same typed error', () => {
  const parser = new SavevmParser();
  let first: unknown;
  try {
    parser.push(Buffer.from('not a savevm stream at all'));
  } catch (e) {
    first = e;
  }
  assert.ok(isSavevmError(first));
  assert.equal(first.code, 'SAVEVM_BAD_MAGIC');
  assert.throws(
    () => parser.push(realStream()),
    (e) => e === first,
  );
});

import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { PassThrough, Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { test } from 'node:test';
import type { SavevmEvent } from '../../hosts/savevm/events.ts';
import { SavevmParser } from '../../hosts/savevm/parser.ts';
import { SavevmParseStream, SavevmTap, WritableSink } from '../../hosts/savevm/stream.ts';
import { SavevmWriter } from '../../hosts/savevm/writer.ts';
import { SummaryBuilder } from '../../hosts/savevm/summary.ts';
import { page, parse, written } from './savevm-helpers.ts';

const GiB = 1024 ** 3;

void test('savevm round trip - iterative passes, zero pages and devices come back exactly as written', () => {
  const blocks = [
    { id: 'pc.ram', length: 256 * 4096 },
    { id: '/rom@etc/acpi/tables', length: 32 * 4096 },
  ];
  const memory = new Map<string, Buffer | null>(); // what the destination should end up with
  const devices = [
    { idstr: 'timer', instanceId: 0, versionId: 2, data: Buffer.alloc(24, 0x7e) },
    {
      idstr: 'cpu',
      instanceId: 0,
      versionId: 12,
      data: Buffer.from([0x7e, 0, 0, 0, 2, 0x04, 0, 0, 0, 1, 3]),
    },
    { idstr: 'cpu', instanceId: 1, versionId: 12, data: page(9) },
  ];
  const bytes = written({ machine: 'pc-q35-7.2', blocks }, (w) => {
    w.header().ramStart();
    for (let pass = 0; pass < 4; pass++) {
      w.ramSection(pass === 3);
      for (let i = pass; i < 256; i += pass + 1) {
        const data = i % 3 === 0 ? null : page(pass * 1000 + i);
        w.page('pc.ram', i * 4096, data);
        memory.set(`pc.ram:${i * 4096}`, data);
      }
      w.page('/rom@etc/acpi/tables', pass * 4096, page(pass));
      memory.set(`/rom@etc/acpi/tables:${pass * 4096}`, page(pass));
      w.endRamSection();
    }
    for (const d of devices) w.device(d);
    w.eof();
  });
  const loaded = new Map<string, Buffer | null>();
  const events = parse(bytes, [1000], {
    onPage: (p) => loaded.set(`${p.block}:${p.address}`, p.data && Buffer.from(p.data)),
  });
  assert.equal(loaded.size, memory.size);
  for (const [k, v] of memory) assert.deepEqual(loaded.get(k), v, k);
  const fulls = events.filter((e) => e.type === 'section-full');
  assert.deepEqual(
    fulls.map((e) => [e.idstr, e.instanceId, e.versionId, e.deviceBytes]),
    devices.map((d) => [d.idstr, d.instanceId, d.versionId, d.data.length]),
  );
  const s = new SummaryBuilder();
  for (const e of events) s.add(e);
  assert.deepEqual(s.summary.sections, { start: 1, part: 3, end: 1, full: 3 });
  assert.equal(s.summary.machine, 'pc-q35-7.2');
});

void test('savevm round trip - 1 GiB of zero-heavy RAM streams through writer and parser without being held', () => {
  const blocks = [{ id: 'pc.ram', length: GiB }];
  const pages = GiB / 4096;
  const parser = new SavevmParser({ onPage: (p) => p.data && digest.update(p.data) });
  const digest = createHash('sha256');
  const expected = createHash('sha256');
  const events: SavevmEvent[] = [];
  let streamBytes = 0;
  let peakRss = 0;
  const rssBefore = process.memoryUsage().rss;
  const w = new SavevmWriter({ machine: 'pc', blocks }, (chunk) => {
    streamBytes += chunk.length;
    events.push(...parser.push(chunk));
  });
  w.header().ramStart().ramSection();
  const data = Buffer.alloc(4096);
  for (let i = 0; i < pages; i++) {
    // One page in eight carries data: 128 MiB of payload in a 1 GiB guest.
    if (i % 8 === 0) {
      data.writeUInt32BE(i, 0);
      data.writeUInt32BE((i ^ 0xa5a5a5a5) >>> 0, 4092);
      expected.update(data);
      w.page('pc.ram', i * 4096, data);
    } else {
      w.page('pc.ram', i * 4096, null);
    }
    if (i % 65536 === 0) peakRss = Math.max(peakRss, process.memoryUsage().rss);
  }
  w.endRamSection().ramSection(true).endRamSection();
  w.device({ idstr: 'timer', instanceId: 0, versionId: 2, data: Buffer.alloc(24) }).eof();
  events.push(...parser.end());
  peakRss = Math.max(peakRss, process.memoryUsage().rss);

  const part = events.find((e) => e.type === 'section-part');
  assert.ok(part?.type === 'section-part');
  assert.deepEqual(part.ram, { normalPages: pages / 8, zeroPages: pages - pages / 8, pageBytes: GiB / 8 });
  assert.equal(parser.offset, streamBytes);
  assert.ok(streamBytes > GiB / 8, 'the stream is larger than any buffer involved');
  assert.equal(digest.digest('hex'), expected.digest('hex'), 'every page payload arrived intact');
  const grew = peakRss - rssBefore;
  assert.ok(grew < 96 * 1024 * 1024, `memory grew by ${grew} bytes while ${streamBytes} streamed`);
});

void test('savevm stream - backpressure: a slow consumer holds the producer back, nothing piles up', async () => {
  const blocks = [{ id: 'pc.ram', length: 64 * 1024 * 1024 }];
  const source = new PassThrough({ highWaterMark: 64 * 1024 });
  const sink = new WritableSink(source);
  let produced = 0;
  let consumed = 0;
  let maxAhead = 0;
  const seen: string[] = [];
  const slow = new Writable({
    highWaterMark: 64 * 1024,
    write(chunk: Buffer, _enc, done) {
      consumed += chunk.length;
      setImmediate(done);
    },
  });
  const tap = new SavevmTap((e) => seen.push(e.type));
  const flowing = pipeline(source, tap, slow);
  const w = new SavevmWriter({ machine: 'pc', blocks, chunkBytes: 64 * 1024 }, (chunk) => {
    produced += chunk.length;
    sink.out(chunk);
  });
  w.header().ramStart().ramSection();
  for (let i = 0; i < blocks[0]!.length / 4096; i++) {
    w.page('pc.ram', i * 4096, page(i));
    if (i % 16 === 0) {
      maxAhead = Math.max(maxAhead, produced - consumed);
      await sink.ready();
    }
  }
  w.endRamSection().ramSection(true).endRamSection().eof();
  source.end();
  await flowing;
  assert.equal(consumed, produced, 'the tap passes every byte through unchanged in size');
  assert.deepEqual(seen, [
    'header',
    'configuration',
    'section-start',
    'section-part',
    'section-end',
    'eof',
    'vmdescription',
  ]);
  assert.ok(maxAhead < 2 * 1024 * 1024, `producer ran ${maxAhead} bytes ahead of a 64 MiB stream`);
});

void test('savevm stream - SavevmParseStream emits events as objects and fails the pipeline with the typed error', async () => {
  const good = written({ machine: 'pc', blocks: [{ id: 'pc.ram', length: 4096 }] }, (w) =>
    w.header().ramStart().ramSection(true).page('pc.ram', 0, page(1)).endRamSection().eof(),
  );
  const events: SavevmEvent[] = [];
  await pipeline(
    Readable.from(
      Array.from({ length: Math.ceil(good.length / 100) }, (_, i) => good.subarray(i * 100, i * 100 + 100)),
    ),
    new SavevmParseStream(),
    new Writable({
      objectMode: true,
      write(e: SavevmEvent, _enc, done) {
        events.push(e);
        done();
      },
    }),
  );
  assert.deepEqual(
    events.map((e) => e.type),
    ['header', 'configuration', 'section-start', 'section-end', 'eof', 'vmdescription'],
  );
  await assert.rejects(
    pipeline(
      Readable.from([good.subarray(0, 100)]),
      new SavevmParseStream(),
      new Writable({ objectMode: true, write: (_e, _enc, done) => done() }),
    ),
    (err: unknown) => err instanceof Error && 'code' in err && err.code === 'SAVEVM_TRUNCATED',
  );
});

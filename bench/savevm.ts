// `npm run bench -- savevm`: the parser's cost against a plain read of the same bytes. Writes a
// > 1 GiB stream of mostly non-zero pages (the expensive case: every page is a 4 KiB payload the
// parser must step over), then, alternately, reads it plainly and parses it, best of each.
import { createReadStream, openSync, writeSync, closeSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SavevmParser } from '../hosts/savevm/parser.ts';
import { SavevmWriter } from '../hosts/savevm/writer.ts';
import type { BenchContext, Figures } from './run.ts';

const GiB = 1024 ** 3;
/** Guest RAM such that the stream, with its zero pages, is still over 1 GiB. */
const RAM = 1.125 * GiB;
const PAGE = 4096;
const ROUNDS = 3;
const READ_CHUNK = 1024 * 1024;

export default async function savevmBench(ctx: BenchContext): Promise<Figures> {
  const dir = await mkdtemp(join(tmpdir(), 'ferry-bench-savevm-'));
  try {
    const file = join(dir, 'stream.savevm');
    const { bytes, normal, zero } = writeStream(file);
    ctx.log(`wrote ${bytes} bytes (${normal} normal pages, ${zero} zero pages) to ${file}`);
    await plainRead(file); // warm the page cache so both measurements read from memory
    let readMs = Infinity;
    let parseMs = Infinity;
    for (let round = 0; round < ROUNDS; round++) {
      const r = await plainRead(file);
      const p = await parse(file, bytes);
      readMs = Math.min(readMs, r);
      parseMs = Math.min(parseMs, p);
      ctx.log(`round ${round + 1}: plain read ${r.toFixed(0)} ms, parse ${p.toFixed(0)} ms`);
    }
    const readMBps = bytes / 1e6 / (readMs / 1000);
    const parseMBps = bytes / 1e6 / (parseMs / 1000);
    const ratio = readMBps / parseMBps;
    ctx.log(
      `plain read ${readMBps.toFixed(0)} MB/s, parse ${parseMBps.toFixed(0)} MB/s: parsing costs ${ratio.toFixed(2)}x a read (aim < 2)`,
    );
    return {
      streamBytes: bytes,
      normalPages: normal,
      zeroPages: zero,
      readMBps: round1(readMBps),
      parseMBps: round1(parseMBps),
      ratio: Math.round(ratio * 100) / 100,
      target: 2,
      withinTarget: ratio < 2,
    };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** 1.125 GiB of guest RAM, one page in sixteen zero, the rest distinct data. */
function writeStream(file: string): { bytes: number; normal: number; zero: number } {
  const fd = openSync(file, 'w');
  let normal = 0;
  let zero = 0;
  try {
    const w = new SavevmWriter(
      { machine: 'pc-i440fx-7.2', blocks: [{ id: 'pc.ram', length: RAM }], chunkBytes: 4 * 1024 * 1024 },
      (chunk) => {
        writeSync(fd, chunk);
      },
    );
    w.header().ramStart().ramSection();
    const data = Buffer.alloc(PAGE, 0x5a);
    for (let i = 0; i < RAM / PAGE; i++) {
      if (i % 16 === 15) {
        w.page('pc.ram', i * PAGE, null);
        zero++;
      } else {
        data.writeUInt32BE(i, 0);
        w.page('pc.ram', i * PAGE, data);
        normal++;
      }
    }
    w.endRamSection().ramSection(true).endRamSection();
    w.device({ idstr: 'timer', instanceId: 0, versionId: 2, data: Buffer.alloc(24) });
    w.eof();
    if (w.bytesWritten < GiB) throw new Error('the benchmark stream must be at least 1 GiB');
    return { bytes: w.bytesWritten, normal, zero };
  } finally {
    closeSync(fd);
  }
}

async function plainRead(file: string): Promise<number> {
  const started = performance.now();
  let n = 0;
  for await (const chunk of createReadStream(file, { highWaterMark: READ_CHUNK }))
    n += (chunk as Buffer).length;
  if (n === 0) throw new Error('empty stream');
  return performance.now() - started;
}

async function parse(file: string, expected: number): Promise<number> {
  const started = performance.now();
  const parser = new SavevmParser();
  let events = 0;
  for await (const chunk of createReadStream(file, { highWaterMark: READ_CHUNK }))
    events += parser.push(chunk as Buffer).length;
  events += parser.end().length;
  const elapsed = performance.now() - started;
  if (parser.offset !== expected || events === 0)
    throw new Error(`parsed ${parser.offset} of ${expected} bytes`);
  return elapsed;
}

function round1(n: number): number {
  return Math.round(n * 10) / 10;
}

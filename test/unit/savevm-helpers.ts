// Shared by the savevm unit tests: build streams with the writer, parse them in chosen chunks.
import { readFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import { SavevmParser } from '../../hosts/savevm/parser.ts';
import type { SavevmParserOptions } from '../../hosts/savevm/parser.ts';
import type { SavevmEvent } from '../../hosts/savevm/events.ts';
import { SavevmWriter } from '../../hosts/savevm/writer.ts';
import type { SavevmWriterOptions } from '../../hosts/savevm/writer.ts';

export const FIXTURE = new URL('../fixtures/savevm/qemu-7.2-pc-64m-paused.savevm.gz', import.meta.url);
export const FIXTURE_FACTS = JSON.parse(
  readFileSync(new URL('../fixtures/savevm/qemu-7.2-pc-64m-paused.json', import.meta.url), 'utf8'),
) as { queryMigrate: { normal: number; duplicate: number; total: number }; bytes: number; devices: number };

export function realStream(): Buffer {
  return gunzipSync(readFileSync(FIXTURE));
}

/** Runs `build` against a writer and returns everything it wrote as one buffer. */
export function written(options: SavevmWriterOptions, build: (w: SavevmWriter) => void): Buffer {
  const chunks: Buffer[] = [];
  build(new SavevmWriter({ chunkBytes: 4096, ...options }, (c) => chunks.push(c)));
  return Buffer.concat(chunks);
}

/** Parses `bytes` split into chunks of the given sizes (cycled); returns events, or throws. */
export function parse(
  bytes: Buffer,
  chunkSizes: number[] = [bytes.length || 1],
  options: SavevmParserOptions = {},
): SavevmEvent[] {
  const parser = new SavevmParser(options);
  const events: SavevmEvent[] = [];
  let at = 0;
  let i = 0;
  while (at < bytes.length) {
    const size = Math.max(1, chunkSizes[i++ % chunkSizes.length]!);
    events.push(...parser.push(bytes.subarray(at, at + size)));
    at += size;
  }
  events.push(...parser.end());
  return events;
}

/** Parses and returns the error it throws (failing if it does not). */
export function parseError(bytes: Buffer, chunkSizes?: number[]): unknown {
  try {
    parse(bytes, chunkSizes);
  } catch (err) {
    return err;
  }
  throw new Error('expected the stream to be refused');
}

/** A small but complete stream: two blocks, two passes, an END, three devices. */
export function sampleStream(options: Partial<SavevmWriterOptions> = {}): Buffer {
  return written({ machine: 'pc-i440fx-7.2', blocks: SAMPLE_BLOCKS, ...options }, (w) => {
    w.header().ramStart();
    w.ramSection()
      .page('pc.ram', 0, page(1))
      .page('pc.ram', 4096, null)
      .page('pc.rom', 0, page(2))
      .endRamSection();
    w.ramSection().page('pc.ram', 0, page(3)).endRamSection();
    w.ramSection(true)
      .page('pc.ram', 8192, page(4))
      .page('pc.ram', 12288, Buffer.alloc(4096))
      .endRamSection();
    w.device({ idstr: 'timer', instanceId: 0, versionId: 2, data: Buffer.alloc(24, 1) });
    w.device({
      idstr: 'cpu',
      instanceId: 0,
      versionId: 12,
      data: Buffer.from('7e000000020400000009007e0000000207', 'hex'),
    });
    w.device({ idstr: '0000:00:02.0/e1000', instanceId: 0, versionId: 2, data: Buffer.alloc(0) });
    w.eof();
  });
}

export const SAMPLE_BLOCKS = [
  { id: 'pc.ram', length: 64 * 4096 },
  { id: 'pc.rom', length: 4 * 4096 },
];

/** A recognisable non-zero page. */
export function page(seed: number): Buffer {
  const b = Buffer.alloc(4096);
  for (let i = 0; i < b.length; i += 4) b.writeUInt32BE((seed * 2654435761 + i) >>> 0, i);
  return b;
}

// Reads a savevm file through the streaming parser; the engine of `ferry savevm inspect`.
import { createReadStream } from 'node:fs';
import { SavevmParser } from './parser.ts';
import type { SavevmParserOptions } from './parser.ts';
import { SummaryBuilder } from './summary.ts';

/**
 * Parses a file front to back. The builder is returned even when parsing throws (it is filled
 * up to the failure), so callers can show what was read before the error.
 */
export async function inspectFile(
  path: string,
  builder = new SummaryBuilder(),
  options: SavevmParserOptions = {},
): Promise<SummaryBuilder> {
  const parser = new SavevmParser(options);
  try {
    for await (const chunk of createReadStream(path, { highWaterMark: 1024 * 1024 })) {
      for (const e of parser.push(chunk as Buffer)) builder.add(e);
    }
    for (const e of parser.end()) builder.add(e);
  } finally {
    builder.summary.bytes = parser.offset;
    builder.unfinished = parser.current;
  }
  return builder;
}

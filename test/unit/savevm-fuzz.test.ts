// Random damage to real and written streams: the parser must answer every input with events or
// a SavevmError, quickly, never another exception, a hang or a runaway allocation.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { SavevmError } from '../../hosts/savevm/errors.ts';
import { parse, realStream, sampleStream } from './savevm-helpers.ts';

type Mutation =
  | { kind: 'flip'; at: number; value: number }
  | { kind: 'truncate'; at: number }
  | { kind: 'insert'; at: number; bytes: Uint8Array }
  | { kind: 'delete'; at: number; count: number };

const mutation = (size: number): fc.Arbitrary<Mutation> =>
  fc.oneof(
    fc.record({ kind: fc.constant('flip' as const), at: fc.nat(size - 1), value: fc.nat(255) }),
    fc.record({ kind: fc.constant('truncate' as const), at: fc.nat(size - 1) }),
    fc.record({
      kind: fc.constant('insert' as const),
      at: fc.nat(size - 1),
      bytes: fc.uint8Array({ minLength: 1, maxLength: 16 }),
    }),
    fc.record({
      kind: fc.constant('delete' as const),
      at: fc.nat(size - 1),
      count: fc.integer({ min: 1, max: 16 }),
    }),
  );

function apply(bytes: Buffer, mutations: Mutation[]): Buffer {
  let out = bytes;
  for (const m of mutations) {
    const at = Math.min(m.at, out.length);
    if (m.kind === 'flip') {
      if (at < out.length) {
        out = Buffer.from(out);
        out[at] = m.value;
      }
    } else if (m.kind === 'truncate') out = out.subarray(0, at);
    else if (m.kind === 'insert') out = Buffer.concat([out.subarray(0, at), m.bytes, out.subarray(at)]);
    else out = Buffer.concat([out.subarray(0, at), out.subarray(at + m.count)]);
  }
  return out;
}

function survives(bytes: Buffer, mutations: Mutation[], chunk: number): void {
  const damaged = apply(bytes, mutations);
  const started = performance.now();
  const heapBefore = process.memoryUsage().heapUsed;
  try {
    const events = parse(damaged, [chunk]);
    assert.ok(events.length > 0);
  } catch (err) {
    if (!(err instanceof SavevmError)) throw err;
    assert.ok(err.offset >= 0 && err.offset <= damaged.length, `offset ${err.offset} inside the input`);
    assert.ok(!err.message.includes('\n'), 'one-line message');
  }
  const elapsed = performance.now() - started;
  assert.ok(elapsed < 2000, `parsing ${damaged.length} bytes took ${elapsed} ms`);
  const grew = process.memoryUsage().heapUsed - heapBefore;
  assert.ok(grew < 64 * 1024 * 1024, `heap grew by ${grew} bytes`);
}

void test('savevm fuzz - thousands of mutations of a written stream give events or a SavevmError', () => {
  const bytes = sampleStream();
  fc.assert(
    fc.property(
      fc.array(mutation(bytes.length), { minLength: 1, maxLength: 4 }),
      fc.integer({ min: 1, max: 5000 }),
      (m, chunk) => survives(bytes, m, chunk),
    ),
    { numRuns: 3000 },
  );
});

void test('savevm fuzz - mutations of a real QEMU stream, biased to its header, sections and tail', () => {
  const bytes = realStream();
  // Damage where the structure is (the start and the device sections), not only in page data.
  const structure = fc.oneof(
    fc.nat(400),
    fc.integer({ min: bytes.length - 110_000, max: bytes.length - 1 }),
    fc.nat(bytes.length - 1),
  );
  const damage = fc.array(
    fc.oneof(
      fc.record({ kind: fc.constant('flip' as const), at: structure, value: fc.nat(255) }),
      fc.record({ kind: fc.constant('truncate' as const), at: structure }),
      fc.record({
        kind: fc.constant('delete' as const),
        at: structure,
        count: fc.integer({ min: 1, max: 16 }),
      }),
    ),
    { minLength: 1, maxLength: 3 },
  );
  fc.assert(
    fc.property(damage, fc.constantFrom(4096, 65536, 1 << 20), (m, chunk) => survives(bytes, m, chunk)),
    {
      numRuns: 1000,
      // Found by CI: a newline put into a RAM block's name once made the error two lines long.
      examples: [
        [
          [
            { kind: 'flip', at: 210, value: 10 },
            { kind: 'delete', at: 211, count: 1 },
          ],
          4096,
        ],
      ],
    },
  );
});

void test('savevm fuzz - random bytes after a valid header give events or a SavevmError', () => {
  const header = sampleStream().subarray(0, 26);
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 2048 }), fc.integer({ min: 1, max: 64 }), (tail, chunk) =>
      survives(Buffer.concat([header, tail]), [], chunk),
    ),
    { numRuns: 2000 },
  );
});

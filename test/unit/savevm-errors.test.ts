import assert from 'node:assert/strict';
import { test } from 'node:test';
import { FerryError } from '../../errors/ferry-error.ts';
import { SavevmError } from '../../hosts/savevm/errors.ts';
import type { SavevmErrorCode } from '../../hosts/savevm/errors.ts';
import { parse, parseError, realStream, sampleStream, written, SAMPLE_BLOCKS } from './savevm-helpers.ts';

function expectError(bytes: Buffer, code: SavevmErrorCode, offset: number, message?: RegExp): void {
  for (const chunks of [undefined, [1], [3, 11]]) {
    const err = parseError(bytes, chunks);
    assert.ok(err instanceof SavevmError, `a SavevmError, got ${String(err)}`);
    assert.ok(err instanceof FerryError);
    assert.equal(err.code, code, err.message);
    assert.equal(err.offset, offset, err.message);
    if (message) assert.match(err.message, message);
  }
}

function patch(bytes: Buffer, at: number, hex: string): Buffer {
  const copy = Buffer.from(bytes);
  Buffer.from(hex, 'hex').copy(copy, at);
  return copy;
}

const HEAD = written({ machine: 'pc', blocks: SAMPLE_BLOCKS }, (w) => w.header().ramStart().flush());
/** A stream of a header, configuration and RAM START, then `tail` as the first record of a PART. */
function ramRecord(tail: string): Buffer {
  return Buffer.concat([HEAD, Buffer.from(`0200000000${tail}`, 'hex')]);
}
const RAM_RECORD_AT = HEAD.length + 5;

/** Where things are in the sample stream, from its events. */
const SAMPLE = sampleStream();
const EVENTS = parse(SAMPLE);
const at = (type: string, nth = 0): { offset: number; bytes: number } => {
  const e = EVENTS.filter((x) => x.type === type)[nth];
  assert.ok(e && 'bytes' in e);
  return e;
};

void test('savevm errors - bad magic is refused at byte 0', () => {
  expectError(Buffer.from('GZIP....'.repeat(2)), 'SAVEVM_BAD_MAGIC', 0, /not a QEMU migration stream/);
});

void test('savevm errors - version 2 is refused clearly at byte 4', () => {
  expectError(
    patch(sampleStream(), 4, '00000002'),
    'SAVEVM_UNSUPPORTED_VERSION',
    4,
    /version 2 .* not supported/,
  );
  expectError(patch(sampleStream(), 4, '00000009'), 'SAVEVM_UNSUPPORTED_VERSION', 4);
});

void test('savevm errors - an unknown section type is refused where it stands', () => {
  const s = sampleStream();
  expectError(patch(s, 26, '09'), 'SAVEVM_UNKNOWN_SECTION_TYPE', 26, /unknown section type 0x9/);
  expectError(patch(s, 26, '06'), 'SAVEVM_UNKNOWN_SECTION_TYPE', 26, /before QEMU_VM_EOF/);
});

void test('savevm errors - every truncation of a valid stream is SAVEVM_TRUNCATED, never a success or another error', () => {
  const s = SAMPLE;
  const eofAt = EVENTS.find((e) => e.type === 'eof')!.offset;
  for (let cut = 0; cut < s.length; cut += cut < 200 || cut > eofAt - 50 ? 1 : 97) {
    if (cut === eofAt + 1) continue; // cut right after EOF: a stream without description, valid
    const err = parseError(s.subarray(0, cut));
    assert.ok(err instanceof SavevmError, `cut at ${cut}`);
    assert.equal(err.code, 'SAVEVM_TRUNCATED', `cut at ${cut}: ${err.message}`);
    assert.ok(err.offset <= cut, `cut at ${cut}: offset ${err.offset}`);
  }
});

void test('savevm errors - a RAM section footer naming another section is SAVEVM_BAD_FOOTER', () => {
  const s = sampleStream();
  const start = at('section-start');
  const footerAt = start.offset + start.bytes - 5;
  assert.equal(s[footerAt], 0x7e);
  expectError(patch(s, footerAt + 1, '00000005'), 'SAVEVM_BAD_FOOTER', footerAt, /names section 5/);
});

void test('savevm errors - lengths past sane bounds are refused without allocating', () => {
  expectError(patch(sampleStream(), 9, 'fffffff0'), 'SAVEVM_LENGTH_OUT_OF_BOUNDS', 9, /machine type name/);
  const s = sampleStream();
  const descAt = s.lastIndexOf(Buffer.from('{"page_size"')) - 5;
  expectError(patch(s, descAt + 1, '7fffffff'), 'SAVEVM_LENGTH_OUT_OF_BOUNDS', descAt, /device description/);
  expectError(ramRecord('ffff000000000004'), 'SAVEVM_LENGTH_OUT_OF_BOUNDS', RAM_RECORD_AT, /RAM size/);
});

void test('savevm errors - RAM flags: unknown bits, bad combinations and unsupported encodings', () => {
  expectError(
    ramRecord('0000000000000400'),
    'SAVEVM_UNKNOWN_RAM_FLAG',
    RAM_RECORD_AT,
    /unknown RAM record flags 0x400/,
  );
  expectError(ramRecord('000000000000000a'), 'SAVEVM_UNKNOWN_RAM_FLAG', RAM_RECORD_AT, /combination/);
  expectError(ramRecord('0000000000000000'), 'SAVEVM_UNKNOWN_RAM_FLAG', RAM_RECORD_AT);
  expectError(ramRecord('0000000000000040'), 'SAVEVM_UNSUPPORTED_RAM_FLAG', RAM_RECORD_AT, /xbzrle/);
  expectError(ramRecord('0000000000000108'), 'SAVEVM_UNSUPPORTED_RAM_FLAG', RAM_RECORD_AT, /compressed/);
  expectError(ramRecord('0000000000000200'), 'SAVEVM_UNSUPPORTED_RAM_FLAG', RAM_RECORD_AT, /multifd/);
});

void test('savevm errors - pages of unknown blocks, outside their block or continuing nothing are refused', () => {
  const name = Buffer.from('vga.vram').toString('hex');
  expectError(ramRecord(`000000000000000208${name}00`), 'SAVEVM_UNKNOWN_BLOCK', RAM_RECORD_AT, /'vga.vram'/);
  const ram = Buffer.from('pc.ram').toString('hex');
  expectError(
    ramRecord(`000000000004000206${ram}00`),
    'SAVEVM_PAGE_OUT_OF_RANGE',
    RAM_RECORD_AT,
    /outside RAM block 'pc.ram'/,
  );
  expectError(ramRecord('0000000000000022'), 'SAVEVM_BAD_RAM_RECORD', RAM_RECORD_AT, /continues a block/);
});

void test('savevm errors - PART of a section that never started is SAVEVM_UNKNOWN_SECTION', () => {
  const s = sampleStream();
  const partAt = at('section-part').offset;
  assert.equal(s[partAt], 0x02);
  expectError(patch(s, partAt + 1, '00000009'), 'SAVEVM_UNKNOWN_SECTION', partAt, /never started/);
});

void test('savevm errors - an iterable section other than ram is refused as unsupported', () => {
  const s = written({ machine: 'pc', blocks: SAMPLE_BLOCKS }, (w) => w.header().ramStart().flush());
  const startAt = 8 + 1 + 4 + 2; // header, configuration of machine 'pc'
  expectError(patch(s, startAt + 6, '626c6b'), 'SAVEVM_UNSUPPORTED_SECTION', startAt, /'blk'/);
});

void test('savevm errors - bytes after the end and a device description that contradicts the stream', () => {
  expectError(
    Buffer.concat([sampleStream(), Buffer.from([0])]),
    'SAVEVM_TRAILING_DATA',
    sampleStream().length,
  );
  const s = sampleStream();
  const json = s.lastIndexOf(Buffer.from('"size":24'));
  expectError(
    patch(s, json, Buffer.from('"size":25').toString('hex')),
    'SAVEVM_DESCRIPTION_MISMATCH',
    at('section-full').offset,
    /'timer' holds 24 bytes but its description says 25/,
  );
  const brace = s.lastIndexOf(Buffer.from('{"page_size"'));
  expectError(patch(s, brace + 1, '7e'), 'SAVEVM_BAD_DESCRIPTION', brace - 5, /not JSON/);
});

void test('savevm errors - unknown commands and commands of the wrong length are refused', () => {
  const s = sampleStream();
  const insert = (hex: string): Buffer =>
    Buffer.concat([s.subarray(0, 26), Buffer.from(hex, 'hex'), s.subarray(26)]);
  expectError(insert('0800630000'), 'SAVEVM_BAD_COMMAND', 26, /unknown command 99/);
  expectError(insert('08000200020000'), 'SAVEVM_BAD_COMMAND', 26, /ping of 2 bytes, expected 4/);
});

void test('savevm errors - a device section with no footer before the stream ends is truncated, not a hang', () => {
  const s = realStream();
  const eofAt = s.lastIndexOf(Buffer.from('{"page_size"')) - 6;
  // Cut inside the last device section: the scan must give up at the end of the stream.
  const err = parseError(s.subarray(0, eofAt - 20));
  assert.ok(err instanceof SavevmError);
  assert.equal(err.code, 'SAVEVM_TRUNCATED');
  assert.match(err.message, /inside device section 'globalstate'/);
});

void test('savevm errors - an unknown configuration subsection or a page size other than 4 KiB is SAVEVM_BAD_CONFIGURATION', () => {
  const config = HEAD.subarray(0, 15); // header and configuration of machine 'pc'
  const sub = (name: string, body: string): Buffer =>
    Buffer.concat([
      config,
      Buffer.from([0x05, name.length]),
      Buffer.from(name),
      Buffer.from(`00000001${body}`, 'hex'),
    ]);
  expectError(
    sub('configuration/bogus', ''),
    'SAVEVM_BAD_CONFIGURATION',
    15,
    /unknown configuration subsection/,
  );
  expectError(
    sub('configuration/target-page-bits', '0000000d'),
    'SAVEVM_BAD_CONFIGURATION',
    15,
    /target page bits 13/,
  );
  // 12 bits is x86's page size: accepted, and the stream goes on (here to an EOF without devices).
  const ok = Buffer.concat([
    sub('configuration/target-page-bits', '0000000c'),
    HEAD.subarray(15),
    Buffer.from('00', 'hex'),
  ]);
  const events = parse(ok, [1]);
  assert.deepEqual(
    events.filter((e) => e.type === 'subsection').map((e) => [e.name, e.offset, e.bytes]),
    [['configuration/target-page-bits', 15, 1 + 1 + 30 + 4 + 4]],
  );
  assert.equal(events.at(-1)?.type, 'eof');
});

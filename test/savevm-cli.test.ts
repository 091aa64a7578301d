// `ferry savevm inspect` as an operator (or another tool) runs it: a child process, exit codes,
// and exactly one JSON object with --json.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { realStream } from './unit/savevm-helpers.ts';

const BIN = new URL('../cli/bin.mjs', import.meta.url).pathname;
let dir: string;
let good: string;
let truncated: string;
let badMagic: string;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ferry-cli-'));
  const bytes = realStream();
  good = join(dir, 'good.savevm');
  truncated = join(dir, 'truncated.savevm');
  badMagic = join(dir, 'bad-magic.savevm');
  await writeFile(good, bytes);
  await writeFile(truncated, bytes.subarray(0, 300_000));
  await writeFile(badMagic, Buffer.concat([Buffer.from('QEVN'), bytes.subarray(4)]));
});
after(async () => {
  await rm(dir, { recursive: true, force: true });
});

function ferry(...args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [BIN, ...args], { encoding: 'utf8', timeout: 60_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

void test('savevm cli - inspect --json on a real QEMU stream prints the contract object and exits 0', () => {
  const r = ferry('savevm', 'inspect', good, '--json');
  assert.equal(r.status, 0, r.stderr);
  const lines = r.stdout.trim().split('\n');
  assert.equal(lines.length, 1, 'exactly one line of JSON');
  const out = JSON.parse(lines[0]!) as Record<string, unknown>;
  assert.deepEqual(Object.keys(out), [
    'ok',
    'bytes',
    'version',
    'machine',
    'ram',
    'sections',
    'devices',
    'eof',
  ]);
  assert.equal(out.ok, true);
  assert.equal(out.bytes, 461109);
  assert.equal(out.version, 3);
  assert.equal(out.machine, 'pc-i440fx-7.2');
  assert.equal(out.eof, true);
  assert.deepEqual(out.sections, { start: 1, part: 1, end: 1, full: 30 });
  const ram = out.ram as { blocks: { id: string; length: number }[]; normalPages: number; zeroPages: number };
  assert.deepEqual(Object.keys(ram), ['blocks', 'normalPages', 'zeroPages']);
  assert.deepEqual(ram.blocks[0], { id: 'pc.ram', length: 64 * 1024 * 1024 });
  assert.equal(ram.blocks.length, 6);
  assert.equal(ram.normalPages, 49);
  assert.equal(ram.zeroPages, 16465);
  const devices = out.devices as string[];
  assert.equal(devices.length, 30);
  assert.deepEqual(devices.slice(0, 3), ['timer', 'cpu_common', 'cpu']);
});

void test('savevm cli - inspect --json on bad streams prints {ok:false,error:{code,message,offset}} and exits non-zero, no stack', () => {
  for (const [file, code, offset] of [
    [truncated, 'SAVEVM_TRUNCATED', 299982],
    [badMagic, 'SAVEVM_BAD_MAGIC', 0],
    [join(dir, 'missing.savevm'), 'SAVEVM_FILE_UNREADABLE', 0],
  ] as const) {
    const r = ferry('savevm', 'inspect', file, '--json');
    assert.notEqual(r.status, 0);
    assert.equal(r.status, 2);
    const lines = r.stdout.trim().split('\n');
    assert.equal(lines.length, 1);
    const out = JSON.parse(lines[0]!) as {
      ok: boolean;
      error: { code: string; message: string; offset: number };
    };
    assert.deepEqual(Object.keys(out), ['ok', 'error']);
    assert.deepEqual(Object.keys(out.error), ['code', 'message', 'offset']);
    assert.equal(out.ok, false);
    assert.equal(out.error.code, code);
    assert.equal(out.error.offset, offset);
    assert.ok(!out.error.message.includes('\n'));
    assert.doesNotMatch(r.stdout + r.stderr, /\s+at .*\.ts:\d+/, 'no stack trace');
  }
});

void test('savevm cli - inspect without --json prints a human summary, and a one-line error for a bad stream', () => {
  const ok = ferry('savevm', 'inspect', good);
  assert.equal(ok.status, 0, ok.stderr);
  assert.match(ok.stdout, /461109 bytes, savevm version 3, machine pc-i440fx-7\.2/);
  assert.match(ok.stdout, /pages sent: 49 normal, 16465 zero/);
  assert.match(ok.stdout, /device sizes agree with the stream/);
  const bad = ferry('savevm', 'inspect', truncated);
  assert.equal(bad.status, 2);
  assert.match(bad.stdout, /then inside section 'ram' from byte 196: \d+ normal and \d+ zero pages read/);
  assert.equal(bad.stderr.trim().split('\n').length, 1);
  assert.match(bad.stderr, /^ferry: stream ends at byte 300000 inside a RAM page/);
});

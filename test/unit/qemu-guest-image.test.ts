// The guest image builder: binutils turn guest.s into a Multiboot ELF, cached by source hash.
import assert from 'node:assert/strict';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { buildGuestImage, defaultGuestImageSources, guestImageName } from '../../hosts/qemu-image/build.ts';
import { checkImage, hasMultibootHeader } from '../../hosts/qemu-image/check.ts';
import { GuestImageBuildError, GuestImageToolMissingError } from '../../hosts/qemu-image/errors.ts';

let dir: string;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'ferry-guest-image-'));
});

after(async () => {
  await rm(dir, { recursive: true, force: true });
});

void test('qemu guest image - builds a 32-bit Multiboot ELF and reuses it from the cache', async () => {
  const cache = join(dir, 'reuse');
  const image = await buildGuestImage(cache);
  const elf = await readFile(image);
  assert.equal(elf.subarray(0, 4).toString('latin1'), '\x7fELF');
  assert.ok(hasMultibootHeader(elf));
  const built = (await stat(image)).mtimeMs;
  assert.equal(await buildGuestImage(cache), image);
  assert.equal((await stat(image)).mtimeMs, built, 'not rebuilt');
});

void test('qemu guest image - an edited source gets another cache entry', async () => {
  const sources = await defaultGuestImageSources();
  const edited = { ...sources, assembly: `${sources.assembly}\n# edited\n` };
  assert.notEqual(guestImageName(edited), guestImageName(sources));
  const cache = join(dir, 'edit');
  const [a, b] = [await buildGuestImage(cache), await buildGuestImage(cache, { sources: edited })];
  assert.notEqual(a, b);
  await stat(b);
});

void test('qemu guest image - no assembler on PATH is a typed error that says what to install', async () => {
  const empty = await mkdtemp(join(dir, 'empty-path-'));
  await assert.rejects(
    buildGuestImage(join(dir, 'missing'), { env: { PATH: empty } }),
    (err: unknown) =>
      err instanceof GuestImageToolMissingError &&
      err.code === 'GUEST_IMAGE_TOOL_MISSING' &&
      err.message === 'as not found — apt-get install binutils',
  );
});

void test('qemu guest image - source that does not assemble is a build error with the assembler output', async () => {
  const sources = await defaultGuestImageSources();
  await assert.rejects(
    buildGuestImage(join(dir, 'broken'), { sources: { ...sources, assembly: 'movl %nosuchreg, %eax\n' } }),
    (err: unknown) => err instanceof GuestImageBuildError && /as failed: .*nosuchreg/s.test(err.message),
  );
});

void test('qemu guest image - code that outgrows its page cannot push the status block away', async () => {
  const sources = await defaultGuestImageSources();
  const bloated = sources.assembly.replace('\nserial_puts:\n', '\n.fill 4096, 1, 0x90\nserial_puts:\n');
  await assert.rejects(
    buildGuestImage(join(dir, 'bloated'), { sources: { ...sources, assembly: bloated } }),
    (err: unknown) => err instanceof GuestImageBuildError && /ld failed/.test(err.message),
  );
});

void test('qemu guest image - the check refuses an ELF without a Multiboot header or a misplaced status block', async () => {
  const elf = await readFile(await buildGuestImage(join(dir, 'check')));
  const symbols = '00101000 D status\n';
  assert.doesNotThrow(() => checkImage(elf, symbols));
  assert.throws(() => checkImage(elf, '00102000 D status\n'), /layout.ts and guest.ld disagree/);
  const noHeader = Buffer.from(elf);
  for (let at = 0; at + 4 <= Math.min(noHeader.length, 8192); at += 4) {
    if (noHeader.readUInt32LE(at) === 0x1badb002) noHeader.writeUInt32LE(0, at);
  }
  assert.throws(() => checkImage(noHeader, symbols), /no Multiboot header/);
  assert.throws(
    () => checkImage(Buffer.from('not an elf at all, no no no no no no no no no no no no'), symbols),
    /not an ELF/,
  );
});

// Builds the guest image with GNU binutils (as, ld, nm) into a cache keyed by a hash of the
// sources, so an edit of guest.s or guest.ld rebuilds and an unchanged tree costs one stat().
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { access, mkdir, mkdtemp, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { GuestImageBuildError, GuestImageToolMissingError } from './errors.ts';
import { checkImage } from './check.ts';

const run = promisify(execFile);

/** Bumped when the build recipe (flags, checks) changes, so cached images are rebuilt. */
const RECIPE = 'as --32; ld -m elf_i386 -n --build-id=none -T guest.ld; v1';

export interface GuestImageSources {
  /** GNU as source; defaults to guest.s next to this file. */
  assembly: string;
  /** ld script; defaults to guest.ld next to this file. */
  linkerScript: string;
}

export interface BuildGuestImageOptions {
  /** Environment for the tools (its PATH decides which binutils run). */
  env?: NodeJS.ProcessEnv;
  /** Other sources than the shipped ones (tests of the cache key). */
  sources?: GuestImageSources;
}

export async function defaultGuestImageSources(): Promise<GuestImageSources> {
  const [assembly, linkerScript] = await Promise.all([
    readFile(fileURLToPath(new URL('./guest.s', import.meta.url)), 'utf8'),
    readFile(fileURLToPath(new URL('./guest.ld', import.meta.url)), 'utf8'),
  ]);
  return { assembly, linkerScript };
}

/** The cache file name for these sources. */
export function guestImageName(sources: GuestImageSources): string {
  const hash = createHash('sha256')
    .update(RECIPE)
    .update('\0')
    .update(sources.assembly)
    .update('\0')
    .update(sources.linkerScript)
    .digest('hex');
  return `ferry-guest-${hash.slice(0, 16)}.elf`;
}

/**
 * Returns the path of the Multiboot ELF for the current sources, assembling and linking it into
 * `cacheDir` first if it is not there. Concurrent builds are safe: each links in its own
 * directory and the result is renamed into place atomically.
 */
export async function buildGuestImage(
  cacheDir: string,
  options: BuildGuestImageOptions = {},
): Promise<string> {
  const sources = options.sources ?? (await defaultGuestImageSources());
  const image = join(cacheDir, guestImageName(sources));
  if (await exists(image)) return image;

  await mkdir(cacheDir, { recursive: true });
  const work = await mkdtemp(join(cacheDir, '.build-'));
  try {
    const tool = (name: string, args: string[]) => runTool(name, args, work, options.env);
    await writeFile(join(work, 'guest.s'), sources.assembly);
    await writeFile(join(work, 'guest.ld'), sources.linkerScript);
    await tool('as', ['--32', '-o', 'guest.o', 'guest.s']);
    await tool('ld', [
      '-m',
      'elf_i386',
      '-n',
      '--build-id=none',
      '-T',
      'guest.ld',
      '-o',
      'guest.elf',
      'guest.o',
    ]);
    const symbols = await tool('nm', ['guest.elf']);
    checkImage(await readFile(join(work, 'guest.elf')), symbols);
    await rename(join(work, 'guest.elf'), image);
    return image;
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

async function runTool(
  name: string,
  args: string[],
  cwd: string,
  env: NodeJS.ProcessEnv | undefined,
): Promise<string> {
  try {
    const { stdout } = await run(name, args, { cwd, env: env ?? process.env });
    return stdout;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw new GuestImageToolMissingError(name);
    const stderr = (err as { stderr?: string }).stderr?.trim() ?? '';
    throw new GuestImageBuildError(`${name} failed: ${stderr || (err as Error).message}`, { cause: err });
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    await access(path);
    return true;
  } catch {
    return false;
  }
}

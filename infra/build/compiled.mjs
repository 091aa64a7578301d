// ferry runs as plain JavaScript compiled once from its TypeScript sources, not through a
// TypeScript loader on every start (which cost 1.5-5 s per `ferry` command and per agent, guest
// and controller process). This file is plain JavaScript because it is what makes the
// JavaScript: `cli/bin.mjs` calls it before anything else is loaded.
//
// A build lives in `.build/<key>/`, a mirror of the source tree with `.js` for every `.ts`
// (relative imports rewritten to `.js`) and the non-TypeScript files the code reads at run time
// (Lua scripts, the Kafka pom, the QEMU image's assembly) copied beside them. The key hashes the
// path, size and mtime of every source file, so a source change is picked up by the next start
// with no manual step, and checking costs one stat per file (a few milliseconds). Builds are
// written under a temporary name and renamed into place, so processes that start at once never
// see half a build: the loser of the race throws its copy away.
//
// This file is copied into each build too; a copy knows its own build from where it sits.
import { createHash } from 'node:crypto';
import {
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { dirname, join, relative, sep } from 'node:path';
import process from 'node:process';
import { fileURLToPath, URL } from 'node:url';

/** The folders that hold ferry's sources (tsconfig's include). */
const SOURCE_DIRS = [
  'workflows',
  'activities',
  'hosts',
  'infra',
  'cli',
  'bench',
  'events',
  'workers',
  'drills',
  'errors',
  'lab',
  'protocol',
  'test',
];
/**
 * Files outside SOURCE_DIRS that change what a build holds: the bundles carry zod, ioredis, kafkajs
 * and commander from node_modules (npm rewrites its .package-lock.json on every install), and
 * esbuild reads tsconfig.json.
 */
const KEY_FILES = [
  'package.json',
  'package-lock.json',
  join('node_modules', '.package-lock.json'),
  'tsconfig.json',
];
/** Folders under SOURCE_DIRS whose files are data for tests run from source, never read by a build. */
const DATA_ONLY = [join('test', 'fixtures')];
/**
 * The processes ferry starts, each bundled into one file (with code splitting, so the CLI loads
 * only the chunk of the command that runs): a start then reads a few files instead of resolving
 * and compiling a few hundred modules. The bundles sit in `.build/<key>/bundle/NAME.js`, beside
 * the per-file mirror, which stays for everything else (tests, benches, the resources a module
 * reads relative to itself).
 */
const BUNDLES = {
  cli: join('cli', 'main.ts'),
  agent: join('workers', 'agent', 'main.ts'),
  controller: join('workers', 'controller', 'main.ts'),
  guest: join('hosts', 'guest-sim', 'main.ts'),
  'guest-runner': join('hosts', 'guest-sim', 'runner.ts'),
};
/**
 * Packages left to node_modules: Temporal's (the worker is native code, and the client's classes
 * must be the very ones the worker checks errors against), and the build tools.
 */
const EXTERNAL_PACKAGES = ['@temporalio/*', 'esbuild', '@swc/*', 'webpack'];
const BUILD_DIR_NAME = '.build';
const BUNDLE_DIR = 'bundle';
/** Bump when the build's layout or options change, so older builds are not taken for current. */
const FORMAT = 3;
/** A build older than this and not among the newest few is removed when a new one is made. */
const KEEP_OLD_MS = 24 * 3600_000;
const KEEP_NEWEST = 3;

/** The project's root: the nearest folder above this file with a package.json. */
export const ROOT = findRoot(import.meta.dirname);
export const BUILDS = join(ROOT, BUILD_DIR_NAME);

/** @param {string} from */
function findRoot(from) {
  for (let dir = from; ; dir = dirname(dir)) {
    if (existsSync(join(dir, 'package.json'))) return dir;
    if (dirname(dir) === dir) throw new Error(`ferry: no package.json above ${from}`);
  }
}

/**
 * @typedef {{ dir: string, key: string, workflowKey: string, builtAt: string }} Build
 */

/** The build this copy of the file belongs to, if it sits in one. */
function ownBuild() {
  const rel = relative(BUILDS, import.meta.dirname);
  if (rel.startsWith('..') || rel === '') return undefined;
  const dir = join(BUILDS, rel.split(sep)[0]);
  return readManifest(dir);
}

/**
 * @param {string} dir
 * @returns {Build | undefined}
 */
function readManifest(dir) {
  /** @type {unknown} */
  let manifest;
  try {
    manifest = JSON.parse(readFileSync(join(dir, 'manifest.json'), 'utf8'));
  } catch {
    return undefined;
  }
  if (typeof manifest !== 'object' || manifest === null) return undefined;
  const { key, workflowKey, builtAt } = /** @type {Record<string, unknown>} */ (manifest);
  if (typeof key !== 'string' || typeof workflowKey !== 'string' || typeof builtAt !== 'string')
    return undefined;
  return { dir, key, workflowKey, builtAt };
}

/**
 * The build to run: the one this code was loaded from, or (when run from the TypeScript sources,
 * as the tests are) the current build of the sources, made if it is missing.
 * @returns {Promise<Build>}
 */
export async function currentBuild() {
  return ownBuild() ?? (await ensureBuilt());
}

/**
 * What to run in a new node process for a TypeScript module named relative to `fromUrl`
 * (`runnable(import.meta.url, './main.ts')`): its bundle if it is one of BUNDLES, else its compiled
 * `.js`. Compiled code starts it from its own build, so a process and the processes it starts run
 * the same code.
 * @param {string} fromUrl
 * @param {string} relativeTs
 * @returns {Promise<string>}
 */
export async function runnable(fromUrl, relativeTs) {
  const source = fileURLToPath(new URL(relativeTs, fromUrl));
  const own = ownBuild();
  const build = own && source.startsWith(own.dir + sep) ? own : await ensureBuilt();
  const rel = relative(own && build === own ? own.dir : ROOT, source);
  const bundle = Object.entries(BUNDLES).find(([, entry]) => entry === rel.replace(/\.js$/, '.ts'));
  return bundle ? bundlePath(build, bundle[0]) : join(build.dir, rel.replace(/\.ts$/, '.js'));
}

/**
 * The bundle of one of ferry's processes (`cli`, `agent`, `controller`, `guest`, `guest-runner`)
 * in `build`.
 * @param {Build} build
 * @param {string} name
 */
export function bundlePath(build, name) {
  return join(build.dir, BUNDLE_DIR, `${name}.js`);
}

/**
 * The build of the sources as they are now, compiled if no build matches them.
 * @returns {Promise<Build>}
 */
export async function ensureBuilt() {
  const files = listSources();
  const key = sourceKey(files);
  const dir = join(BUILDS, key);
  const existing = readManifest(dir);
  if (existing) return existing;
  return build(files, key, dir);
}

/** @returns {string[]} source files relative to ROOT, sorted */
function listSources() {
  /** @type {string[]} */
  const out = [];
  /** @param {string} rel */
  const walk = (rel) => {
    if (DATA_ONLY.includes(rel)) return;
    for (const entry of readdirSync(join(ROOT, rel), { withFileTypes: true })) {
      const child = join(rel, entry.name);
      if (entry.isDirectory()) walk(child);
      // Test files are never compiled (tests run from source): they are no part of a build's key.
      else if (entry.isFile() && !entry.name.endsWith('.test.ts')) out.push(child);
    }
  };
  for (const dir of SOURCE_DIRS) if (existsSync(join(ROOT, dir))) walk(dir);
  return out.sort();
}

/** @param {string[]} files */
function sourceKey(files) {
  const hash = createHash('sha256').update(`format ${FORMAT}\n`);
  for (const file of [...files, ...KEY_FILES]) {
    let st;
    try {
      st = statSync(join(ROOT, file));
    } catch {
      continue; // a key file that does not exist (no node_modules yet) counts as absent
    }
    hash.update(`${file}\0${st.size}\0${st.mtimeMs}\n`);
  }
  return hash.digest('hex').slice(0, 16);
}

/**
 * @param {string[]} files
 * @param {string} key
 * @param {string} dir
 * @returns {Promise<Build>}
 */
async function build(files, key, dir) {
  // esbuild is loaded only when a build is needed: a start with a current build never pays for it.
  const esbuild = await import('esbuild');
  const tmp = join(BUILDS, `tmp-${process.pid}-${Date.now()}`);
  mkdirSync(tmp, { recursive: true });
  try {
    const sources = files.filter((f) => f.endsWith('.ts') && !f.endsWith('.d.ts'));
    await esbuild.build({
      absWorkingDir: ROOT,
      entryPoints: sources,
      outdir: tmp,
      outbase: '.',
      format: 'esm',
      platform: 'node',
      target: 'node20',
      // Bundling mode only so the plugin below can rewrite each relative import; every import is
      // external, so each output file is its source file alone.
      bundle: true,
      packages: 'external',
      sourcemap: 'linked',
      logLevel: 'error',
      plugins: [relativeImportsAsJs],
    });
    for (const file of files) {
      if (file.endsWith('.ts') || file.startsWith(`test${sep}`)) continue;
      mkdirSync(join(tmp, dirname(file)), { recursive: true });
      writeFileSync(join(tmp, file), readFileSync(join(ROOT, file)));
    }
    await bundleProcesses(esbuild, tmp);
    const manifest = { key, workflowKey: await workflowKey(esbuild), builtAt: new Date().toISOString() };
    writeFileSync(join(tmp, 'manifest.json'), `${JSON.stringify(manifest, null, 2)}\n`);
    try {
      renameSync(tmp, dir);
    } catch (err) {
      // Another process renamed the same build into place first: use theirs.
      if (!readManifest(dir)) throw err;
      rmSync(tmp, { recursive: true, force: true });
    }
    removeOldBuilds(key);
    return /** @type {Build} */ (readManifest(dir));
  } catch (err) {
    rmSync(tmp, { recursive: true, force: true });
    throw err;
  }
}

/**
 * Writes BUNDLES into `out/bundle/`.
 * @param {typeof import('esbuild')} esbuild
 * @param {string} out
 */
async function bundleProcesses(esbuild, out) {
  await esbuild.build({
    absWorkingDir: ROOT,
    entryPoints: BUNDLES,
    outdir: join(out, BUNDLE_DIR),
    splitting: true,
    format: 'esm',
    platform: 'node',
    target: 'node20',
    bundle: true,
    external: EXTERNAL_PACKAGES,
    sourcemap: 'linked',
    logLevel: 'error',
    // CommonJS packages inside an ES module bundle call require() for node's built-ins.
    banner: {
      js: [
        "import { createRequire as __ferryCreateRequire } from 'node:module';",
        "import { fileURLToPath as __ferryFileURLToPath } from 'node:url';",
        'const require = __ferryCreateRequire(import.meta.url);',
      ].join(' '),
    },
    plugins: [importMetaOfTheMirror],
  });
}

/**
 * A bundled module keeps the import.meta of its own compiled file in the mirror: a module that
 * reads a file beside itself (the Lua scripts, the Kafka pom) or starts a sibling process finds it
 * there, whichever bundle or chunk its code landed in (all of them sit in `bundle/`).
 * @type {import('esbuild').Plugin}
 */
const importMetaOfTheMirror = {
  name: 'import-meta-of-the-mirror',
  setup(b) {
    b.onLoad({ filter: /\.(ts|mjs)$/ }, (args) => {
      const rel = relative(ROOT, args.path);
      if (rel.startsWith('..') || rel.startsWith(`node_modules${sep}`)) return undefined;
      const source = readFileSync(args.path, 'utf8');
      if (!source.includes('import.meta')) return undefined;
      const file = `../${rel.split(sep).join('/')}`.replace(/\.ts$/, '.js');
      const dir = file.slice(0, file.lastIndexOf('/') + 1);
      // One pass: the dirname's replacement itself uses import.meta.url, which must stay as is.
      const contents = source.replace(/import\.meta\.(dirname|url)/g, (_, which) =>
        which === 'dirname'
          ? `__ferryFileURLToPath(new URL(${JSON.stringify(dir)}, import.meta.url)).replace(/\\/$/, '')`
          : `new URL(${JSON.stringify(file)}, import.meta.url).href`,
      );
      return { contents, loader: args.path.endsWith('.ts') ? 'ts' : 'js' };
    });
  },
};

/** @type {import('esbuild').Plugin} */
const relativeImportsAsJs = {
  name: 'relative-imports-as-js',
  setup(b) {
    b.onResolve({ filter: /^\.\.?\// }, (args) => {
      if (args.kind === 'entry-point') return undefined;
      return { path: args.path.replace(/\.ts$/, '.js'), external: true };
    });
  },
};

/**
 * What the workflow bundle depends on: the content of every module workflows/index.ts reaches and
 * the version of @temporalio/workflow. Workers reuse a bundle made for the same key.
 */
/** @param {typeof import('esbuild')} esbuild */
async function workflowKey(esbuild) {
  const result = await esbuild.build({
    absWorkingDir: ROOT,
    entryPoints: ['workflows/index.ts'],
    bundle: true,
    packages: 'external',
    platform: 'neutral',
    format: 'esm',
    write: false,
    metafile: true,
    logLevel: 'error',
  });
  const hash = createHash('sha256');
  const sdkPackage = join(ROOT, 'node_modules', '@temporalio', 'workflow', 'package.json');
  /** @type {unknown} */
  const sdk = JSON.parse(readFileSync(sdkPackage, 'utf8'));
  const version = typeof sdk === 'object' && sdk !== null && 'version' in sdk ? String(sdk.version) : '?';
  hash.update(`@temporalio/workflow ${version}\n`);
  for (const input of Object.keys(result.metafile.inputs).sort()) {
    hash.update(`${input}\0`).update(readFileSync(join(ROOT, input)));
  }
  return hash.digest('hex').slice(0, 16);
}

/** @param {string} keep */
function removeOldBuilds(keep) {
  const now = Date.now();
  // Old builds may still be run by a long-lived agent or guest; only those a day old and not among
  // the newest few go (`keep`, the one just made, is among them).
  const builds = readdirSync(BUILDS, { withFileTypes: true })
    .filter((e) => e.isDirectory() && /^[0-9a-f]{16}$/.test(e.name) && e.name !== keep)
    .map((e) => join(BUILDS, e.name));
  removeStale(builds, KEEP_NEWEST - 1, now);
  for (const e of readdirSync(BUILDS, { withFileTypes: true })) {
    const path = join(BUILDS, e.name);
    if (e.name.startsWith('tmp-') && now - statSync(path).mtimeMs > 3600_000) {
      rmSync(path, { recursive: true, force: true });
    }
  }
  // The workflow bundles (infra/temporal/workflow-bundle.ts), one per version of the workflows.
  const bundles = join(BUILDS, 'workflows');
  if (!existsSync(bundles)) return;
  removeStale(
    readdirSync(bundles).map((name) => join(bundles, name)),
    KEEP_NEWEST,
    now,
  );
}

/**
 * Removes those of `paths` that are older than KEEP_OLD_MS and not among the `newest` most recent.
 * @param {string[]} paths
 * @param {number} newest
 * @param {number} now
 */
function removeStale(paths, newest, now) {
  const olds = paths
    .map((path) => ({ path, mtime: statSync(path).mtimeMs }))
    .sort((a, b) => b.mtime - a.mtime)
    .slice(newest);
  for (const old of olds)
    if (now - old.mtime > KEEP_OLD_MS) rmSync(old.path, { recursive: true, force: true });
}

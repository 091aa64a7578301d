import { execFile } from 'node:child_process';
import { join } from 'node:path';

const CLI = join(import.meta.dirname, '..', 'cli', 'bin.mjs');

export interface CliResult {
  status: number;
  stdout: string;
  stderr: string;
}

/** Runs `ferry ...` as a user would; asynchronously, so listeners in the test process keep answering. */
export function ferry(...args: string[]): Promise<CliResult> {
  return ferryWithin(240_000, ...args);
}

/** `ferry ...` for commands that take minutes (the demo); killed after `timeoutMs`, which says so. */
export function ferryWithin(timeoutMs: number, ...args: string[]): Promise<CliResult> {
  return ferryWithEnv({}, timeoutMs, ...args);
}

/** `ferry ...` with environment overrides (a drill host's links, a Redis of the test's own). */
export function ferryWithEnv(
  env: Record<string, string>,
  timeoutMs: number,
  ...args: string[]
): Promise<CliResult> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [CLI, ...args],
      { timeout: timeoutMs, env: { ...process.env, ...env } },
      (err, stdout, stderr) => {
        const killed = err?.killed ? `\n(killed after ${timeoutMs} ms)` : '';
        resolve({
          status: err ? (typeof err.code === 'number' ? err.code : 1) : 0,
          stdout,
          stderr: stderr + killed,
        });
      },
    );
  });
}

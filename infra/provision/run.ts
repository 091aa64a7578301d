import { spawn } from 'node:child_process';
import { ProvisionError } from '../stack/errors.ts';

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs a command to completion, capturing its output; never throws for a non-zero exit. */
export function run(
  command: string,
  args: string[],
  options: { cwd?: string; env?: NodeJS.ProcessEnv } = {},
) {
  return new Promise<RunResult>((resolve, reject) => {
    const child = spawn(command, args, { ...options, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.once('error', reject);
    child.once('close', (code) => resolve({ code: code ?? 1, stdout, stderr }));
  });
}

/** Runs a provisioning step; a failure becomes one ProvisionError line naming the step. */
export async function runStep(what: string, command: string, args: string[], hint: string, cwd?: string) {
  let result: RunResult;
  try {
    result = await run(command, args, cwd === undefined ? {} : { cwd });
  } catch (err) {
    throw new ProvisionError(`${what}: could not run ${command} (${(err as Error).message})`, {
      hint,
      cause: err,
    });
  }
  if (result.code !== 0) {
    const last = (result.stderr.trim() || result.stdout.trim()).split('\n').slice(-1)[0] ?? '';
    throw new ProvisionError(`${what} failed (exit ${result.code}): ${last}`, { hint });
  }
  return result;
}

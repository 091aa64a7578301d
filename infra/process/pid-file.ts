// A pid file that remembers which process it names: the pid plus the process's start time from
// /proc. A pid the kernel has since given to another process never matches, so `stack down`
// cannot signal a stranger.
import { chmodSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { z } from 'zod';

const PidRecord = z.object({
  pid: z.number().int().positive(),
  startTime: z.string().min(1),
  command: z.string(),
  startedAt: z.string(),
});
export type PidRecord = z.infer<typeof PidRecord>;

/** Pid files and the logs beside them are not for other users to read. */
export const PID_FILE_MODE = 0o600;

/** Field 22 of /proc/PID/stat (start time in clock ticks since boot), or undefined if gone or a zombie. */
export function processStartTime(pid: number): string | undefined {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  // The command name (field 2) may contain spaces and parentheses: split after the last ')'.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const state = fields[0];
  if (state === 'Z' || state === 'X') return undefined;
  return fields[19];
}

export function writePidFile(path: string, pid: number, command: string): PidRecord {
  const startTime = processStartTime(pid);
  if (startTime === undefined) throw new Error(`process ${pid} exited before its pid file was written`);
  const record = { pid, startTime, command, startedAt: new Date().toISOString() };
  // The owner's alone (0600), also when an older file of another mode is overwritten.
  writeFileSync(path, JSON.stringify(record) + '\n', { mode: PID_FILE_MODE });
  chmodSync(path, PID_FILE_MODE);
  return record;
}

/** The live process a pid file names, or undefined (and the stale file removed) if it is gone. */
export function readLivePidFile(path: string): PidRecord | undefined {
  let raw: string;
  try {
    raw = readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
  let parsed: ReturnType<typeof PidRecord.safeParse>;
  try {
    parsed = PidRecord.safeParse(JSON.parse(raw));
  } catch {
    parsed = PidRecord.safeParse(undefined);
  }
  if (!parsed.success || processStartTime(parsed.data.pid) !== parsed.data.startTime) {
    rmSync(path, { force: true });
    return undefined;
  }
  return parsed.data;
}

export function isSameProcessAlive(record: PidRecord): boolean {
  return processStartTime(record.pid) === record.startTime;
}

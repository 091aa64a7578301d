// Real QEMU for tests: installed from Debian when missing, started headless with software
// emulation and a QMP socket, killed by pid. Never skipped: no QEMU is a failure.
import { execFileSync, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { QmpClient } from '../hosts/qmp/client.ts';
import type { MigrationInfo } from '../hosts/qmp/schema.ts';
import { waitForMigration } from '../hosts/guests/qemu/migration.ts';

export const QEMU_BINARY = '/usr/bin/qemu-system-x86_64';

/** Makes sure qemu-system-x86_64 is there, installing Debian's package as root if it is not. */
export function ensureQemu(): string {
  if (existsSync(QEMU_BINARY)) return QEMU_BINARY;
  if (process.getuid?.() !== 0) {
    throw new Error(
      `${QEMU_BINARY} is missing and this test is not root: run 'apt-get install -y qemu-system-x86'`,
    );
  }
  try {
    execFileSync('apt-get', ['update'], { stdio: 'ignore' });
    execFileSync('apt-get', ['install', '-y', '--no-install-recommends', 'qemu-system-x86', 'ipxe-qemu'], {
      stdio: 'ignore',
      env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
    });
  } catch (err) {
    throw new Error(`installing qemu-system-x86 failed: ${(err as Error).message}`);
  }
  if (!existsSync(QEMU_BINARY))
    throw new Error(`apt-get installed qemu-system-x86 but ${QEMU_BINARY} is missing`);
  return QEMU_BINARY;
}

export interface QemuOptions {
  machine: string;
  memory: string;
  /** Extra command-line arguments: devices, netdevs. */
  args?: string[];
  /** Start with the vCPUs stopped (-S), so RAM does not change while it migrates. */
  paused: boolean;
}

export interface QemuGuest {
  readonly pid: number;
  readonly dir: string;
  readonly qmp: QmpClient;
  /** Kills QEMU (by its pid) and removes its directory. */
  stop(): Promise<void>;
}

export async function startQemu(options: QemuOptions): Promise<QemuGuest> {
  const binary = ensureQemu();
  const dir = await mkdtemp(join(tmpdir(), 'ferry-qemu-'));
  const socket = join(dir, 'qmp.sock');
  const args = [
    ...['-accel', 'tcg', '-nodefaults', '-display', 'none', '-no-user-config'],
    ...['-machine', options.machine, '-m', options.memory],
    ...['-qmp', `unix:${socket},server=on,wait=off`],
    ...(options.paused ? ['-S'] : []),
    ...(options.args ?? []),
  ];
  const child = spawn(binary, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr?.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const stop = async (): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null) {
      process.kill(child.pid!, 'SIGKILL');
      await exited;
    }
    await rm(dir, { recursive: true, force: true });
  };
  try {
    const qmp = await Promise.race([
      QmpClient.connect(socket, 15_000),
      exited.then(() => Promise.reject(new Error(`QEMU exited at start: ${stderr.trim()}`))),
    ]);
    return {
      pid: child.pid!,
      dir,
      qmp,
      stop: async () => {
        qmp.close();
        await stop();
      },
    };
  } catch (err) {
    await stop();
    throw err;
  }
}

/** Migrates the guest into `file` (exec: cat, QEMU 7.2 has no file: URI) and waits for the end. */
export async function migrateToFile(
  guest: QemuGuest,
  file: string,
  timeoutMs = 120_000,
): Promise<MigrationInfo> {
  await guest.qmp.execute('migrate', { uri: `exec:cat > '${file}'` });
  return waitForMigration(guest.qmp, { timeoutMs });
}

export interface RamBlockInfo {
  id: string;
  used: number;
}

/** QEMU's own RAM block list (HMP `info ramblock`): name and used length of each block. */
export async function ramBlocks(guest: QemuGuest): Promise<RamBlockInfo[]> {
  const text = await guest.qmp.execute('human-monitor-command', { 'command-line': 'info ramblock' });
  const rows = text.split('\n').slice(1);
  return rows
    .map((row) => row.trim().split(/\s+/))
    .filter((cols) => cols.length >= 6)
    .map((cols) => ({ id: cols[0]!, used: Number.parseInt(cols[cols.length - 2]!, 16) }));
}

// How the host agent starts an emulated guest: node with tsx's loader (an absolute path, so the
// agent's working directory does not matter) running main.ts with the spec inline. The agent
// spawns it detached, writes the pid file and redirects stderr (the guest's log) to a file.
import { fileURLToPath } from 'node:url';
import { parseGuestSpec } from './spec.ts';
import type { EmulatedGuestSpec } from './spec.ts';

const MAIN = fileURLToPath(new URL('./main.ts', import.meta.url));

export function emulatedGuestCommand(spec: EmulatedGuestSpec): { command: string; args: string[] } {
  const checked = parseGuestSpec(spec); // a bad spec throws GuestSpecError here, not in the child
  return {
    command: process.execPath,
    args: ['--import', import.meta.resolve('tsx'), MAIN, '--spec-json', JSON.stringify(checked)],
  };
}

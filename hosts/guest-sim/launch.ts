// How the host agent starts an emulated guest: node running the compiled main.js of the agent's
// own build (an absolute path, so the agent's working directory does not matter) with the spec
// inline. The agent spawns it detached, writes the pid file and redirects stderr (the guest's log)
// to a file.
import { runnable } from '../../infra/build/compiled.mjs';
import { parseGuestSpec } from './spec.ts';
import type { EmulatedGuestSpec } from './spec.ts';

const MAIN = await runnable(import.meta.url, './main.ts');
const RUNNER = await runnable(import.meta.url, './runner.ts');

/** A guest runner (runner.ts) listening on `socket` for its agent. */
export function guestRunnerCommand(socket: string): { command: string; args: string[] } {
  return { command: process.execPath, args: [RUNNER, '--socket', socket] };
}

/**
 * An emulated guest process that waits on `socket` for its spec (hosts/guest-sim/standby.ts),
 * as long as this process (its agent) is its parent.
 */
export function emulatedStandbyCommand(socket: string): { command: string; args: string[] } {
  return { command: process.execPath, args: [MAIN, '--standby', socket, String(process.pid)] };
}

export function emulatedGuestCommand(spec: EmulatedGuestSpec): { command: string; args: string[] } {
  const checked = parseGuestSpec(spec); // a bad spec throws GuestSpecError here, not in the child
  return {
    command: process.execPath,
    args: [MAIN, '--spec-json', JSON.stringify(checked)],
  };
}

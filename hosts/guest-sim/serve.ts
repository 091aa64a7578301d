// One emulated guest and its QMP server, wired together: what a guest process (main.ts) runs once,
// and a guest runner (runner.ts) runs for each guest it hosts.
import type { Logger } from '../../infra/logging/logger.ts';
import { EmulatedGuest } from './guest.ts';
import { dispatch } from './qmp-commands.ts';
import { QmpServer } from './qmp-server.ts';
import type { ResolvedGuestSpec } from './spec.ts';

/** What the greeting says: QEMU 7.2's QMP, packaged as the emulated guest. */
const GREETING = {
  QMP: { version: { qemu: { micro: 0, minor: 2, major: 7 }, package: 'ferry-guest-sim' }, capabilities: [] },
};

/** The guest and its QMP server (not yet listening); the guest's events go to every QMP client. */
export function serveGuest(
  spec: ResolvedGuestSpec,
  log: Logger,
  accepts: () => boolean = () => true,
): { guest: EmulatedGuest; server: QmpServer } {
  const guest = new EmulatedGuest(spec, log);
  const server = new QmpServer({
    path: spec.qmpSocket,
    greeting: GREETING,
    // A command queued on a connection of a guest that was killed since is not run.
    dispatch: (command, args) => {
      if (!accepts()) throw new Error('the guest is gone');
      return dispatch(guest, command, args);
    },
    log,
  });
  guest.onEvent((event, data) => server.broadcast(event, data));
  return { guest, server };
}

// A guest process started before it is needed. Prepare starts the incoming guest, and starting a
// node process costs ~300 ms on this machine, about a third of a migration's overhead; so each
// agent keeps one emulated guest process started and waiting (`main.js --standby SOCKET`). When a
// guest is wanted, the agent connects to SOCKET and sends its spec; the process becomes that guest
// (QMP socket, memory, run state) and answers `ready` once QMP listens, or `error WHY`.
//
// Until it is given a spec the process is nobody's guest, so it must not outlive its agent: it
// exits when its parent changes (the agent died and it was re-parented). From the spec on, it is
// a guest like any other and outlives the agent, as QEMU outlives libvirtd.
import { rmSync } from 'node:fs';
import { createServer, type Socket } from 'node:net';
import { GuestSpecError } from './errors.ts';
import { parseGuestSpec, type ResolvedGuestSpec } from './spec.ts';

/** How often a waiting standby checks that its agent is still its parent. */
const PARENT_CHECK_MS = 500;
/** The longest spec line a standby reads. */
const MAX_SPEC_BYTES = 64 * 1024;

export interface Adoption {
  spec: ResolvedGuestSpec;
  /** Tells the agent the guest is up: its QMP socket listens. */
  ready(): void;
  /** Tells the agent why the guest could not start (before the process exits). */
  failed(why: string): void;
}

/**
 * Listens on `socketPath` until an agent sends a spec; exits if its agent (`agentPid`, which
 * started it) is no longer its parent, including when the agent died before this process looked.
 */
export function awaitAdoption(socketPath: string, agentPid: number): Promise<Adoption> {
  const orphaned = setInterval(() => {
    if (process.ppid !== agentPid) process.exit(0);
  }, PARENT_CHECK_MS);
  if (process.ppid !== agentPid) process.exit(0);
  rmSync(socketPath, { force: true });
  return new Promise((resolve, reject) => {
    const server = createServer((conn) => {
      // One agent, one spec: the first connection is the one, the server closes behind it.
      server.close();
      rmSync(socketPath, { force: true });
      readLine(conn)
        .then((line) => {
          let spec: ResolvedGuestSpec;
          try {
            spec = parseGuestSpec(JSON.parse(line));
          } catch (err) {
            const why = err instanceof SyntaxError ? `spec is not JSON: ${err.message}` : String(err);
            conn.end(`error ${oneLine(why)}\n`);
            throw err instanceof GuestSpecError ? err : new GuestSpecError(`guest-sim standby: ${why}`);
          }
          clearInterval(orphaned);
          resolve({
            spec,
            ready: () => conn.end('ready\n'),
            failed: (why) => conn.end(`error ${oneLine(why)}\n`),
          });
        })
        .catch(reject);
    });
    server.on('error', reject);
    server.listen(socketPath);
  });
}

function readLine(conn: Socket): Promise<string> {
  return new Promise((resolve, reject) => {
    let text = '';
    conn.setEncoding('utf8');
    conn.on('data', (chunk: string) => {
      text += chunk;
      const end = text.indexOf('\n');
      if (end >= 0) resolve(text.slice(0, end));
      else if (text.length > MAX_SPEC_BYTES) reject(new GuestSpecError('guest-sim standby: spec too long'));
    });
    conn.on('error', reject);
    conn.on('end', () => reject(new GuestSpecError('guest-sim standby: the agent left without a spec')));
  });
}

const oneLine = (s: string) => s.replace(/\s+/g, ' ').slice(0, 500);

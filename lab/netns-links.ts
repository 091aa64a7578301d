// The kernel objects of a lab, made and removed with iproute2 (`ip`), nothing else: one bridge with
// the lab's first address, and per host a network namespace joined to the bridge by a veth pair.
// Nothing here routes: no default route in a namespace, no NAT, no change to IP forwarding, so the
// lab's addresses reach each other and the bridge's address (where the stack listens) and nothing
// off the machine.
import { execFileSync } from 'node:child_process';
import { FerryError } from '../errors/ferry-error.ts';

export class LabLinkError extends FerryError {
  readonly code = 'LAB_LINK_FAILED';
}

/** The names and address of one host's link (Linux interface names are at most 15 characters). */
export interface HostLink {
  netns: string;
  /** The veth end on the bridge, in this namespace: set down to partition the host. */
  hostSide: string;
  /** The veth end inside the host's namespace, carrying its address. */
  nsSide: string;
  address: string;
}

export function hostLink(host: string, index: number, subnet: string): HostLink {
  return {
    netns: `ferry-${host}`,
    hostSide: `ferryv${index}`,
    nsSide: `ferryp${index}`,
    address: labAddress(subnet, 10 + index),
  };
}

/** `.n` of the lab's /24 (the bridge is .1, host i is .(10+i)). */
export function labAddress(subnet: string, n: number): string {
  if (!Number.isInteger(n) || n < 1 || n > 254) throw new LabLinkError(`no address .${n} in ${subnet}`);
  return `${subnet.split('/')[0]!.split('.').slice(0, 3).join('.')}.${n}`;
}

/** Runs `ip ARGS`; a failure is one line naming the command and ip's own message. */
export function ip(...args: string[]): string {
  try {
    return execFileSync('ip', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (err) {
    const stderr = ((err as { stderr?: string }).stderr ?? '').trim();
    throw new LabLinkError(`ip ${args.join(' ')}: ${stderr || (err as Error).message}`, {
      hint: 'ferry lab needs root and iproute2 (`ip`)',
    });
  }
}

export function linkExists(name: string, netns?: string): boolean {
  try {
    ip(...(netns ? ['-n', netns] : []), 'link', 'show', 'dev', name);
    return true;
  } catch {
    return false;
  }
}

export function netnsExists(name: string): boolean {
  return ip('netns', 'list')
    .split('\n')
    .some((line) => line.split(' ')[0] === name);
}

export function makeBridge(bridge: string, address: string): void {
  ip('link', 'add', 'name', bridge, 'type', 'bridge');
  ip('addr', 'add', `${address}/24`, 'dev', bridge);
  ip('link', 'set', 'dev', bridge, 'up');
}

/** A namespace, its loopback up, and a veth pair from it to the bridge with the host's address. */
export function makeHostLink(link: HostLink, bridge: string): void {
  ip('netns', 'add', link.netns);
  ip('-n', link.netns, 'link', 'set', 'dev', 'lo', 'up');
  ip('link', 'add', 'name', link.hostSide, 'type', 'veth', 'peer', 'name', link.nsSide, 'netns', link.netns);
  ip('link', 'set', 'dev', link.hostSide, 'master', bridge, 'up');
  ip('-n', link.netns, 'addr', 'add', `${link.address}/24`, 'dev', link.nsSide);
  ip('-n', link.netns, 'link', 'set', 'dev', link.nsSide, 'up');
}

/** Removes what makeHostLink made, as far as it exists (deleting the namespace deletes its veth end and so the pair). */
export function removeHostLink(link: HostLink): void {
  if (netnsExists(link.netns)) ip('netns', 'delete', link.netns);
  try {
    if (linkExists(link.hostSide)) ip('link', 'delete', 'dev', link.hostSide);
  } catch (err) {
    // The namespace's deletion takes its veth pair with it, asynchronously: gone meanwhile is done.
    if (linkExists(link.hostSide)) throw err;
  }
}

export function removeBridge(bridge: string): void {
  if (linkExists(bridge)) ip('link', 'delete', 'dev', bridge, 'type', 'bridge');
}

/** A partition: the host's port on the bridge goes down, and with it everything the host sends or receives. */
export function setHostLink(link: HostLink, state: 'up' | 'down'): void {
  ip('link', 'set', 'dev', link.hostSide, state);
}

/** Whether the host's port on the bridge is up (administratively), or undefined if it is gone. */
export function hostLinkUp(link: HostLink): boolean | undefined {
  if (!linkExists(link.hostSide)) return undefined;
  return /<[^>]*\bUP\b[^>]*>/.test(ip('link', 'show', 'dev', link.hostSide));
}

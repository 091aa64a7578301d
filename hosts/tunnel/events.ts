// What a tunnel tells its agent as it runs: a union keyed on `type`, each carrying the migration
// and VM, so the agent can publish them to Kafka keyed by VM without knowing tunnel internals.
import type { SavevmEvent } from '../savevm/events.ts';
import type { InspectSummary } from '../savevm/summary.ts';
import type { TunnelBytes, TunnelErrorCode, TunnelSide } from './errors.ts';

interface Common {
  migrationId: string;
  vm: string;
  side: TunnelSide;
}

/** Both connections of this side are up; the stream can flow. */
export interface TunnelOpenedEvent extends Common {
  type: 'tunnel-opened';
  /** The other agent's address as host:port. */
  peer: string;
}

/** One item of the savevm stream went through this side (a section, the EOF, ...). */
export interface TunnelSavevmEvent extends Common {
  type: 'savevm';
  event: SavevmEvent;
}

/** The stream went through whole, ending after QEMU_VM_EOF. */
export interface TunnelClosedEvent extends Common {
  type: 'tunnel-closed';
  bytes: TunnelBytes;
  summary: InspectSummary;
}

/** The tunnel failed; `offset` is where the stream broke (see TunnelError). */
export interface TunnelBrokenEvent extends Common {
  type: 'tunnel-broken';
  code: TunnelErrorCode;
  offset: number;
  bytes: TunnelBytes;
  message: string;
}

/**
 * The destination turned a connection away before touching the guest. migrationId and vm are
 * what the header claimed (empty when it could not be read).
 */
export interface TunnelRefusedEvent extends Common {
  type: 'tunnel-refused';
  side: 'destination';
  reason: RefusalReason;
  remote: string;
  /** The host its certificate names, when security is on and the TLS handshake completed. */
  peerHost?: string;
  /** More of why, for the log line (the limit that was reached, the TLS error). */
  detail?: string;
}

export type RefusalReason =
  | 'bad-header'
  | 'unknown-migration'
  | 'wrong-token'
  | 'reused-token'
  | 'expired-token'
  | 'target-unavailable'
  /** Security on: the certificate is valid but names another host than the migration's source. */
  | 'wrong-peer'
  /** More connections from this peer than the listener's per-peer limit. */
  | 'too-many-connections'
  /** Security on: no client certificate, one not from the cluster CA, or no handshake in time. */
  | 'tls-handshake-failed';

export type TunnelEvent =
  TunnelOpenedEvent | TunnelSavevmEvent | TunnelClosedEvent | TunnelBrokenEvent | TunnelRefusedEvent;

export type TunnelEventHandler = (event: TunnelEvent) => void;

import { FerryError } from '../../errors/ferry-error.ts';

/** Stable codes: the agent maps them to migration failures and Kafka events. */
export const TUNNEL_ERROR_CODES = [
  /** The destination refused the header (bad frame, unknown migration, wrong, reused or expired token). */
  'TUNNEL_TOKEN_REFUSED',
  /** The destination's one-time token expired before any source presented it. */
  'TUNNEL_TOKEN_EXPIRED',
  /** A connection ended or failed before the stream's EOF (and description) went through. */
  'TUNNEL_BROKEN',
  /** The savevm parser refused the stream: the tunnel was torn down rather than pass it on. */
  'TUNNEL_CORRUPT_STREAM',
  /**
   * Security on: the TLS handshake failed (a certificate missing, not from the cluster CA, or
   * refused), or the other agent's certificate names another host than the cookie does.
   */
  'TUNNEL_AUTH_FAILED',
  /** The destination agent, or the destination guest's incoming socket, could not be reached. */
  'TUNNEL_CONNECT_FAILED',
  /** The source socket the guest migrates to could not be created. */
  'TUNNEL_LISTEN_FAILED',
  /** `close()` was called (a cancelled migration) before the stream completed. */
  'TUNNEL_CLOSED',
  /** `expect()` for a migration that already has a token waiting. */
  'TUNNEL_DUPLICATE_MIGRATION',
] as const;
export type TunnelErrorCode = (typeof TUNNEL_ERROR_CODES)[number];

export type TunnelSide = 'source' | 'destination';

/** Bytes this side read from upstream and passed on, per direction. */
export interface TunnelBytes {
  /** Source guest → destination guest: the migration stream. */
  toDestination: number;
  /** Destination guest → source guest: QEMU's return path. */
  toSource: number;
}

export interface TunnelErrorDetails {
  migrationId: string;
  vm: string;
  side: TunnelSide;
  /**
   * Where the stream broke, in stream bytes (the header frame is not counted): for
   * TUNNEL_CORRUPT_STREAM the parser's offset of the refused item, otherwise the number of
   * stream bytes this side had received and parsed when it broke.
   */
  offset: number;
  bytes: TunnelBytes;
  /** Why the destination refused a header, when it did. */
  reason?: string;
}

export class TunnelError extends FerryError {
  readonly migrationId: string;
  readonly vm: string;
  readonly side: TunnelSide;
  readonly offset: number;
  readonly bytes: TunnelBytes;
  readonly reason: string | undefined;

  constructor(
    readonly code: TunnelErrorCode,
    details: TunnelErrorDetails,
    message: string,
    options?: { cause?: unknown; hint?: string },
  ) {
    super(
      `${details.vm} (${details.migrationId}) ${details.side} tunnel: ${message} (at stream byte ${details.offset})`,
      options,
    );
    this.migrationId = details.migrationId;
    this.vm = details.vm;
    this.side = details.side;
    this.offset = details.offset;
    this.bytes = { ...details.bytes };
    this.reason = details.reason;
  }
}

export function isTunnelError(err: unknown): err is TunnelError {
  return err instanceof TunnelError;
}

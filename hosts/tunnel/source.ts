// The source agent's end: the source guest migrates to `unix:<socketPath>`; its stream goes out
// over TCP to the destination agent, which admitted us with the token it issued at Prepare.
// The TCP connection and the handshake happen before the socket path exists, so a refused token
// or an unreachable destination fails here, before the agent tells the guest to migrate.
// With TLS (security on) the connection is mutual TLS and the destination's certificate must name
// the host the Prepare cookie came from, checked in the handshake before the token is sent.
import { createServer } from 'node:net';
import type { Server, Socket } from 'node:net';
import { TLSSocket } from 'node:tls';
import { rm } from 'node:fs/promises';
import { DEFAULT_CONNECT_TIMEOUT_MS, connectTcp, connectTls } from './connect.ts';
import { TunnelError } from './errors.ts';
import type { TunnelErrorCode } from './errors.ts';
import { TUNNEL_PROTOCOL_VERSION, TunnelReply, encodeFrame, readFrame } from './frame.ts';
import { Throttle } from './throttle.ts';
import { PeerMismatchError, clientTlsOptions } from './tls.ts';
import type { TunnelTls } from './tls.ts';
import { TunnelEnd } from './tunnel-end.ts';
import type { TunnelEndOptions } from './tunnel-end.ts';

export interface SourceTunnelOptions extends TunnelEndOptions {
  /** The unix socket the source guest will `migrate unix:` to; must not exist yet. */
  socketPath: string;
  /** The destination agent's data-plane address, from its Prepare cookie. */
  destination: { host: string; port: number };
  /** The one-time token the destination issued at Prepare. */
  token: string;
  /** Omit (or null) for no limit; changeable later with setBandwidth. */
  bandwidthLimitBytesPerSec?: number | null;
  connectTimeoutMs?: number;
  /** Leave from this local address (the source host's own), not whatever the kernel picks. */
  localAddress?: string;
  /** How long to wait for the destination's reply to the header. */
  handshakeTimeoutMs?: number;
  /** Security on: this host's certificate, key and the cluster CA; absent, plain TCP. */
  tls?: TunnelTls;
  /** The destination host the Prepare cookie names; with TLS its certificate must name it. */
  peer?: string;
}

export const DEFAULT_HANDSHAKE_TIMEOUT_MS = 10_000;

export class SourceTunnel extends TunnelEnd {
  readonly side = 'source';
  readonly socketPath: string;
  /** The TLS suite negotiated with the destination (e.g. TLS_AES_256_GCM_SHA384); undefined in plain TCP. */
  readonly cipher: string | undefined;
  private readonly throttle: Throttle;
  private server: Server | null = null;
  /** Set once we created the socket file, so we never remove someone else's. */
  private ownsPath = false;

  constructor(options: SourceTunnelOptions, peer: Socket) {
    super(options);
    this.socketPath = options.socketPath;
    this.cipher = peer instanceof TLSSocket ? peer.getCipher().standardName : undefined;
    this.throttle = new Throttle(options.bandwidthLimitBytesPerSec ?? null);
    this.track(peer);
  }

  /** Bytes per second for the stream, effective immediately; null lifts the limit. */
  setBandwidth(bytesPerSecond: number | null): void {
    this.throttle.setRate(bytesPerSecond);
  }

  get bandwidth(): number | null {
    return this.throttle.bytesPerSecond;
  }

  /** Listens for the guest's one connection, then carries it to `peer`. */
  async listen(peer: Socket, peerName: string): Promise<void> {
    const server = createServer({ allowHalfOpen: true, pauseOnConnect: true });
    this.server = server;
    server.on('connection', (guest) => {
      if (this.server === null) {
        guest.destroy(); // only the first connection is the guest's migration
        return;
      }
      this.server = null;
      server.close(); // also removes the socket file: nobody else can connect
      this.carry(guest, peer, peerName, this.throttle);
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.socketPath, () => {
        this.ownsPath = true;
        server.off('error', reject);
        resolve();
      });
    });
    server.on('error', () => undefined); // after listening, nothing is reported here that matters
  }

  protected override async release(): Promise<void> {
    this.throttle.destroy();
    const server = this.server;
    this.server = null;
    if (server?.listening) await new Promise<void>((resolve) => server.close(() => resolve()));
    // Node unlinks the socket file when the server closes; this is for the case it did not.
    if (this.ownsPath) await rm(this.socketPath, { force: true }).catch(() => undefined);
  }
}

export async function openSourceTunnel(options: SourceTunnelOptions): Promise<SourceTunnel> {
  const { host, port } = options.destination;
  const peerName = `${host}:${port}`;
  const refuse = (code: TunnelErrorCode, message: string, cause?: unknown, reason?: string): TunnelError =>
    new TunnelError(
      code,
      {
        migrationId: options.migrationId,
        vm: options.vm,
        side: 'source',
        offset: 0,
        bytes: { toDestination: 0, toSource: 0 },
        ...(reason === undefined ? {} : { reason }),
      },
      message,
      { cause },
    );

  let peer: Socket;
  const timeoutMs = options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS;
  try {
    if (options.tls) {
      if (options.peer === undefined) {
        throw new PeerMismatchError('a named destination host', undefined);
      }
      peer = await connectTls(
        host,
        port,
        clientTlsOptions(options.tls, options.peer),
        timeoutMs,
        options.localAddress,
      );
    } else {
      peer = await connectTcp(host, port, timeoutMs, options.localAddress);
    }
  } catch (err) {
    if (isAuthFailure(err)) {
      throw refuse(
        'TUNNEL_AUTH_FAILED',
        `destination agent ${peerName} failed authentication: ${(err as Error).message}`,
        err,
      );
    }
    throw refuse(
      'TUNNEL_CONNECT_FAILED',
      `cannot reach destination agent ${peerName}: ${(err as Error).message}`,
      err,
    );
  }
  peer.on('error', () => undefined); // the handshake below reports it
  let reply: TunnelReply;
  try {
    peer.write(
      encodeFrame({
        version: TUNNEL_PROTOCOL_VERSION,
        migrationId: options.migrationId,
        token: options.token,
      }),
    );
    reply = TunnelReply.parse(
      await readFrame(peer, options.handshakeTimeoutMs ?? DEFAULT_HANDSHAKE_TIMEOUT_MS),
    );
  } catch (err) {
    peer.destroy();
    // TLS 1.3 checks the client's certificate after the client thinks the handshake done: a
    // destination refusing ours says so with an alert here, in place of a reply.
    throw refuse(
      isAuthFailure(err) ? 'TUNNEL_AUTH_FAILED' : 'TUNNEL_CONNECT_FAILED',
      `handshake with ${peerName} failed: ${(err as Error).message}`,
      err,
    );
  }
  if (!reply.ok) {
    peer.destroy();
    if (reply.reason === 'wrong-peer') {
      throw refuse(
        'TUNNEL_AUTH_FAILED',
        `${peerName} refused this host: it is not the source of ${options.migrationId} there`,
        undefined,
        reply.reason,
      );
    }
    if (reply.reason === 'target-unavailable' || reply.reason === 'too-many-connections') {
      throw refuse(
        'TUNNEL_CONNECT_FAILED',
        reply.reason === 'too-many-connections'
          ? `${peerName} refused: this host holds as many tunnel connections there as it may`
          : `${peerName} could not reach the destination guest`,
        undefined,
        reply.reason,
      );
    }
    throw refuse(
      'TUNNEL_TOKEN_REFUSED',
      `${peerName} refused the tunnel: ${reply.reason}`,
      undefined,
      reply.reason,
    );
  }

  const tunnel = new SourceTunnel(options, peer);
  try {
    await tunnel.listen(peer, peerName);
  } catch (err) {
    await tunnel.close();
    throw refuse(
      'TUNNEL_LISTEN_FAILED',
      `cannot listen on ${options.socketPath}: ${(err as Error).message}`,
      err,
    );
  }
  return tunnel;
}

/** A certificate refused by either side (TLS alerts, verification errors) or the wrong host named. */
function isAuthFailure(err: unknown): boolean {
  if (err instanceof PeerMismatchError) return true;
  const code = (err as NodeJS.ErrnoException | undefined)?.code ?? '';
  return (
    code.startsWith('ERR_SSL_') ||
    code.startsWith('ERR_TLS_') ||
    /^(UNABLE_TO_|CERT_|DEPTH_ZERO_|SELF_SIGNED_)/.test(code)
  );
}

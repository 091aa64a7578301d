// The destination agent's end: one TCP server on the agent's data-plane address. At Prepare the
// agent calls expect() and hands the token to the source in the cookie; a connection presenting
// it is admitted once, connected to the destination guest's incoming socket and carried.
// Everything else is turned away before the guest is touched.
// With TLS (security on) the listener speaks mutual TLS: a peer without a certificate from the
// cluster CA never completes the handshake, so it reads nothing and its bytes are never parsed;
// one with a valid certificate gets in only for a migration whose Prepare named it as the source.
import { createServer } from 'node:net';
import type { AddressInfo, Server, Socket } from 'node:net';
import { createServer as createTlsServer } from 'node:tls';
import type { TLSSocket } from 'node:tls';
import { DEFAULT_TARGET_WAIT_MS, connectUnixWhenReady } from './connect.ts';
import { TunnelError } from './errors.ts';
import type { RefusalReason, TunnelEventHandler } from './events.ts';
import { TunnelHeader, encodeFrame, readFrame } from './frame.ts';
import { DEFAULT_MAX_CONNECTIONS_PER_PEER, PeerLimit } from './peer-limit.ts';
import { TicketBook } from './tickets.ts';
import { peerHostOf, serverTlsOptions } from './tls.ts';
import type { TunnelTls } from './tls.ts';
import { TunnelEnd } from './tunnel-end.ts';

export const DEFAULT_HEADER_TIMEOUT_MS = 5_000;
/** A settled migration's ticket is kept this long, so a late reuse is refused as such. */
const FORGET_AFTER_MS = 60_000;
/** A refused connection gets this long to read the refusal before it is destroyed. */
const REFUSAL_LINGER_MS = 1_000;

export interface TunnelListenerOptions {
  /** The agent's data-plane address, e.g. 127.0.0.2. */
  host: string;
  /** 0 (the default) picks a free port; `address` reports it. */
  port?: number;
  /** Every tunnel's events, and every refusal. */
  onEvent?: TunnelEventHandler;
  headerTimeoutMs?: number;
  /** How long to wait for the destination guest's incoming socket to accept. */
  targetWaitMs?: number;
  returnPathGraceMs?: number;
  /**
   * Security on: this host's certificate, key and the cluster CA. Every connection must then
   * present a host certificate from that CA; absent, the listener is plain TCP as before.
   */
  tls?: TunnelTls;
  /**
   * Connections one peer may hold at once (handshaking or carrying); more are refused. A peer is
   * its certificate's host with TLS, else its address.
   */
  maxConnectionsPerPeer?: number;
}

export interface ExpectOptions {
  migrationId: string;
  vm: string;
  /** The destination guest's incoming unix socket (QEMU `migrate-incoming unix:<target>`). */
  target: string;
  /** How long the token admits; it is spent by the first connection that presents it. */
  ttlMs: number;
  /** This tunnel's events (in addition to the listener's handler). */
  onEvent?: TunnelEventHandler;
  /**
   * The source host the Prepare cookie names. With TLS only a connection whose certificate names
   * this host is admitted (required then); without TLS nothing can check it.
   */
  peer?: string;
}

/** A TLS connection before its handshake is through: its place by address, and why it failed. */
interface Unauthenticated {
  release: () => void;
  why: string | undefined;
}

/** A connection turned away, as the listener reports it. */
interface Refusal {
  reason: RefusalReason;
  remote: string;
  /** The migration it named, if it is waiting here (its handler hears of it too). */
  tunnel?: DestinationTunnel | null;
  /** The migration id the header claimed. */
  claimed?: string;
  peerHost?: string;
  detail?: string;
}

export interface Expectation {
  /** For the Prepare cookie: 256 random bits, base64url. */
  token: string;
  address: { host: string; port: number };
  tunnel: DestinationTunnel;
}

export class DestinationTunnel extends TunnelEnd {
  readonly side = 'destination';

  constructor(
    options: ExpectOptions & { returnPathGraceMs?: number },
    readonly target: string,
    /** The host allowed to connect (see ExpectOptions.peer). */
    readonly peer: string | undefined,
  ) {
    super(options);
  }

  /** Reports a refusal that named this migration (a wrong peer, a wrong or reused token). */
  refused(reason: RefusalReason, remote: string, extra: { peerHost?: string; detail?: string } = {}): void {
    this.emit({ type: 'tunnel-refused', reason, remote, ...extra });
  }

  expired(ttlMs: number): void {
    this.fail({ code: 'TUNNEL_TOKEN_EXPIRED', message: `no source presented the token within ${ttlMs} ms` });
  }

  targetUnavailable(err: unknown): void {
    this.fail({
      code: 'TUNNEL_CONNECT_FAILED',
      message: `destination guest socket ${this.target} unavailable: ${(err as Error).message}`,
      cause: err,
    });
  }

  admitted(peer: Socket, guest: Socket, remote: string): void {
    this.carry(peer, guest, remote);
  }

  protected override release(): Promise<void> {
    return Promise.resolve();
  }
}

export class TunnelListener {
  private readonly book = new TicketBook<DestinationTunnel>();
  private readonly handshakes = new Set<Socket>();
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly limit: PeerLimit;
  /** TLS: connections still in their handshake, by remote address:port. */
  private readonly unauthenticated = new Map<string, Unauthenticated>();
  private closed = false;

  private constructor(
    private readonly server: Server,
    private readonly options: TunnelListenerOptions,
  ) {
    this.limit = new PeerLimit(options.maxConnectionsPerPeer ?? DEFAULT_MAX_CONNECTIONS_PER_PEER);
  }

  static async listen(options: TunnelListenerOptions): Promise<TunnelListener> {
    const headerTimeoutMs = options.headerTimeoutMs ?? DEFAULT_HEADER_TIMEOUT_MS;
    const server = options.tls
      ? createTlsServer({
          ...serverTlsOptions(options.tls),
          // Not half-open during the handshake: a client that leaves mid-handshake must end it
          // at once (half-open, it would wait for handshakeTimeout). Half-open once secure.
          allowHalfOpen: false,
          noDelay: true,
          handshakeTimeout: headerTimeoutMs,
        })
      : createServer({ allowHalfOpen: true, pauseOnConnect: true, noDelay: true });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(options.port ?? 0, options.host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    const listener = new TunnelListener(server, options);
    if (options.tls) {
      // Before the TLS handshake: an address opening more than its share is cut at once; an
      // authenticated peer is then counted by its host (handshake()).
      server.on('connection', (raw: Socket) => listener.admitAddress(raw));
      server.on('secureConnection', (socket: TLSSocket) => {
        socket.allowHalfOpen = true; // the return path outlives the stream's end, as in plain mode
        listener.authenticated(socket);
        void listener.handshake(socket, peerHostOf(socket));
      });
      server.on('tlsClientError', (err: Error, socket: TLSSocket) => listener.handshakeFailed(err, socket));
    } else {
      server.on('connection', (socket: Socket) => {
        if (listener.admitAddress(socket)) void listener.handshake(socket, undefined);
      });
    }
    server.on('error', () => undefined); // a failed accept affects only that connection
    return listener;
  }

  /** True with TLS on: connections must present a host certificate from the cluster CA. */
  get secure(): boolean {
    return this.options.tls !== undefined;
  }

  get address(): { host: string; port: number } {
    return { host: this.options.host, port: (this.server.address() as AddressInfo).port };
  }

  /** Issues the one-time token for an incoming migration (Prepare). */
  expect(options: ExpectOptions): Expectation {
    const listenerHandler = this.options.onEvent;
    const ownHandler = options.onEvent;
    const tunnel = new DestinationTunnel(
      {
        ...options,
        returnPathGraceMs: this.options.returnPathGraceMs,
        onEvent: (e) => {
          ownHandler?.(e);
          listenerHandler?.(e);
        },
      },
      options.target,
      options.peer,
    );
    if (this.secure && options.peer === undefined) {
      throw new TunnelError(
        'TUNNEL_AUTH_FAILED',
        {
          migrationId: options.migrationId,
          vm: options.vm,
          side: 'destination',
          offset: 0,
          bytes: tunnel.bytes,
        },
        'with TLS on, a token is issued only for a named source host',
      );
    }
    const ticket = this.closed ? null : this.book.issue(options.migrationId, options.ttlMs, tunnel);
    if (!ticket) {
      throw new TunnelError(
        this.closed ? 'TUNNEL_CLOSED' : 'TUNNEL_DUPLICATE_MIGRATION',
        {
          migrationId: options.migrationId,
          vm: options.vm,
          side: 'destination',
          offset: 0,
          bytes: tunnel.bytes,
        },
        this.closed ? 'the listener is closed' : 'a token for this migration is already waiting',
      );
    }
    this.later(options.ttlMs, () => {
      if (this.book.expire(ticket)) tunnel.expired(options.ttlMs);
    });
    void tunnel.completion
      .catch(() => undefined)
      .finally(() => {
        this.later(FORGET_AFTER_MS, () => {
          if (this.book.all().includes(ticket)) this.book.forget(options.migrationId);
        });
      });
    return { token: ticket.token, address: this.address, tunnel };
  }

  /** Stops accepting, refuses what is waiting and closes every tunnel still open. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    for (const s of this.handshakes) s.destroy();
    const closing = new Promise<void>((resolve) => this.server.close(() => resolve()));
    await Promise.all(this.book.all().map((t) => t.value.close()));
    await closing;
  }

  /**
   * Counts a new TCP connection against its address's share; false (and the socket destroyed) if
   * that address already holds its share. Without TLS the place is held while the connection is
   * open; with TLS only until the handshake is through, as the peer is then counted by its host:
   * so an address cannot flood the listener with handshakes before anyone is authenticated.
   */
  private admitAddress(socket: Socket): boolean {
    socket.on('error', () => undefined);
    const address = socket.remoteAddress ?? 'unknown';
    const endpoint = `${address}:${socket.remotePort}`;
    const release = this.closed ? null : this.limit.acquire(`address ${address}`);
    if (!release) {
      // Cut before a byte is read or sent: with TLS nothing could be said in the clear anyway.
      socket.destroy();
      if (!this.closed) {
        this.report({
          reason: 'too-many-connections',
          remote: endpoint,
          detail: `address ${address} already holds ${this.limit.max} connections, the limit`,
        });
      }
      return false;
    }
    socket.once('close', release);
    if (this.secure) {
      const pending: Unauthenticated = { release, why: undefined };
      this.unauthenticated.set(endpoint, pending);
      // Reported from here, where the address is still known (a TLS socket reset mid-handshake
      // has forgotten it by the time tlsClientError comes).
      socket.once('close', () => {
        if (this.unauthenticated.get(endpoint) !== pending) return;
        this.unauthenticated.delete(endpoint);
        if (this.closed) return;
        this.report({
          reason: 'tls-handshake-failed',
          remote: endpoint,
          detail: pending.why ?? 'the peer left during the TLS handshake',
        });
      });
    }
    return true;
  }

  /** The TLS handshake of a connection admitted by admitAddress is through: its place goes back. */
  private authenticated(socket: TLSSocket): void {
    const endpoint = `${socket.remoteAddress}:${socket.remotePort}`;
    this.unauthenticated.get(endpoint)?.release();
    this.unauthenticated.delete(endpoint);
  }

  /** A TLS handshake that failed: no certificate, one not from the CA, or none in time. */
  private handshakeFailed(err: Error, socket: TLSSocket): void {
    const pending = this.unauthenticated.get(`${socket.remoteAddress}:${socket.remotePort}`);
    if (pending) pending.why = (err as NodeJS.ErrnoException).code ?? err.message;
    socket.destroy(); // the connection's close reports it
  }

  private async handshake(socket: Socket, peerHost: string | undefined): Promise<void> {
    if (this.closed) {
      socket.destroy();
      return;
    }
    this.handshakes.add(socket);
    socket.on('error', () => undefined);
    socket.once('close', () => this.handshakes.delete(socket));
    const remote = `${socket.remoteAddress}:${socket.remotePort}`;
    const refuse = (r: Omit<Refusal, 'remote' | 'peerHost'>): void =>
      this.refuse(socket, { ...r, remote, ...(peerHost === undefined ? {} : { peerHost }) });
    if (this.secure) {
      if (peerHost === undefined) {
        // A certificate from the cluster CA, but an operator's or a controller's: not a host.
        refuse({ reason: 'wrong-peer', detail: 'the certificate is not a host identity' });
        return;
      }
      const release = this.limit.acquire(`host ${peerHost}`);
      if (!release) {
        refuse({
          reason: 'too-many-connections',
          detail: `host ${peerHost} already holds ${this.limit.max} connections, the limit`,
        });
        return;
      }
      socket.once('close', release);
    }

    let header: TunnelHeader;
    try {
      header = TunnelHeader.parse(
        await readFrame(socket, this.options.headerTimeoutMs ?? DEFAULT_HEADER_TIMEOUT_MS),
      );
    } catch {
      refuse({ reason: 'bad-header' });
      return;
    }
    const claimed = header.migrationId;
    // The peer before the token: a host other than the migration's source is turned away before
    // its token is looked at, so a stolen token spends nothing and the real source still gets in.
    const waiting = this.book.peek(claimed);
    if (this.secure && waiting?.value.peer !== peerHost) {
      refuse(
        waiting
          ? { reason: 'wrong-peer', tunnel: waiting.value, claimed, detail: `expected ${waiting.value.peer}` }
          : { reason: 'unknown-migration', claimed },
      );
      return;
    }
    // Spent here, synchronously after the check: a second connection racing this one is refused.
    const admission = this.book.admit(claimed, header.token);
    if (!admission.ok) {
      refuse({ reason: admission.reason, tunnel: admission.ticket?.value ?? null, claimed });
      return;
    }
    const tunnel = admission.ticket.value;
    let guest: Socket;
    try {
      guest = await connectUnixWhenReady(tunnel.target, this.options.targetWaitMs ?? DEFAULT_TARGET_WAIT_MS);
    } catch (err) {
      refuse({ reason: 'target-unavailable', tunnel, claimed });
      tunnel.targetUnavailable(err);
      return;
    }
    if (tunnel.ended || socket.destroyed) {
      // Closed (cancelled) while we waited for the guest, or the source gave up.
      guest.destroy();
      socket.destroy();
      if (!tunnel.ended) tunnel.targetUnavailable(new Error('source left during the handshake'));
      return;
    }
    this.handshakes.delete(socket);
    socket.write(encodeFrame({ ok: true }));
    tunnel.admitted(socket, guest, remote);
  }

  /** Answers a refusal frame, lets the peer read it, and reports it. */
  private refuse(socket: Socket, r: Refusal): void {
    socket.end(encodeFrame({ ok: false, reason: r.reason }));
    socket.resume(); // read to the client's end, so the connection closes rather than lingers
    this.later(REFUSAL_LINGER_MS, () => socket.destroy());
    this.report(r);
  }

  /** To the migration's tunnel when the refusal named a migration we know, else the listener's. */
  private report(r: Refusal): void {
    const extra = {
      ...(r.peerHost === undefined ? {} : { peerHost: r.peerHost }),
      ...(r.detail === undefined ? {} : { detail: r.detail }),
    };
    if (r.tunnel) {
      r.tunnel.refused(r.reason, r.remote, extra);
      return;
    }
    this.options.onEvent?.({
      type: 'tunnel-refused',
      side: 'destination',
      migrationId: r.claimed ?? '',
      vm: '',
      reason: r.reason,
      remote: r.remote,
      ...extra,
    });
  }

  private later(ms: number, fn: () => void): void {
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      fn();
    }, ms);
    timer.unref();
    this.timers.add(timer);
  }
}

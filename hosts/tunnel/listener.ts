// The destination agent's end: one TCP server on the agent's data-plane address. At Prepare the
// agent calls expect() and hands the token to the source in the cookie; a connection presenting
// it is admitted once, connected to the destination guest's incoming socket and carried.
// Everything else is turned away before the guest is touched.
import { createServer } from 'node:net';
import type { AddressInfo, Server, Socket } from 'node:net';
import { DEFAULT_TARGET_WAIT_MS, connectUnixWhenReady } from './connect.ts';
import { TunnelError } from './errors.ts';
import type { RefusalReason, TunnelEventHandler } from './events.ts';
import { TunnelHeader, encodeFrame, readFrame } from './frame.ts';
import { TicketBook } from './tickets.ts';
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
  ) {
    super(options);
  }

  /** Reports a refusal that named this migration (a wrong or reused token) to its handler. */
  refused(reason: RefusalReason, remote: string): void {
    this.emit({ type: 'tunnel-refused', reason, remote });
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
  private closed = false;

  private constructor(
    private readonly server: Server,
    private readonly options: TunnelListenerOptions,
  ) {}

  static async listen(options: TunnelListenerOptions): Promise<TunnelListener> {
    const server = createServer({ allowHalfOpen: true, pauseOnConnect: true, noDelay: true });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(options.port ?? 0, options.host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    const listener = new TunnelListener(server, options);
    server.on('connection', (socket) => void listener.handshake(socket));
    server.on('error', () => undefined); // a failed accept affects only that connection
    return listener;
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
    );
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

  private async handshake(socket: Socket): Promise<void> {
    if (this.closed) {
      socket.destroy();
      return;
    }
    this.handshakes.add(socket);
    socket.on('error', () => undefined);
    socket.once('close', () => this.handshakes.delete(socket));
    const remote = `${socket.remoteAddress}:${socket.remotePort}`;

    let header: TunnelHeader;
    try {
      header = TunnelHeader.parse(
        await readFrame(socket, this.options.headerTimeoutMs ?? DEFAULT_HEADER_TIMEOUT_MS),
      );
    } catch {
      this.refuse(socket, 'bad-header', remote, null);
      return;
    }
    // Spent here, synchronously after the check: a second connection racing this one is refused.
    const admission = this.book.admit(header.migrationId, header.token);
    if (!admission.ok) {
      this.refuse(socket, admission.reason, remote, admission.ticket?.value ?? null, header.migrationId);
      return;
    }
    const tunnel = admission.ticket.value;
    let guest: Socket;
    try {
      guest = await connectUnixWhenReady(tunnel.target, this.options.targetWaitMs ?? DEFAULT_TARGET_WAIT_MS);
    } catch (err) {
      this.refuse(socket, 'target-unavailable', remote, tunnel);
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

  private refuse(
    socket: Socket,
    reason: RefusalReason,
    remote: string,
    tunnel: DestinationTunnel | null,
    claimed = '',
  ): void {
    socket.end(encodeFrame({ ok: false, reason }));
    socket.resume(); // read to the client's end, so the connection closes rather than lingers
    this.later(REFUSAL_LINGER_MS, () => socket.destroy());
    if (tunnel) {
      tunnel.refused(reason, remote);
    } else {
      this.options.onEvent?.({
        type: 'tunnel-refused',
        side: 'destination',
        migrationId: claimed,
        vm: '',
        reason,
        remote,
      });
    }
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

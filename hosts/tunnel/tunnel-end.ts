// What the two ends of a tunnel share: carrying both directions between two sockets, counting and
// parsing on the way, and settling exactly once — resolved when the stream went through whole,
// rejected with a TunnelError saying where it broke otherwise. Whatever settles it, every socket
// of this end is destroyed, so a failure on one hop reaches the guests at both ends.
import { pipeline } from 'node:stream';
import type { Socket } from 'node:net';
import type { SavevmEvent } from '../savevm/events.ts';
import { isSavevmError } from '../savevm/errors.ts';
import { SummaryBuilder } from '../savevm/summary.ts';
import type { InspectSummary } from '../savevm/summary.ts';
import { TunnelError } from './errors.ts';
import type { TunnelBytes, TunnelErrorCode, TunnelSide } from './errors.ts';
import type { TunnelEvent, TunnelEventHandler } from './events.ts';
import { ByteMeter, TunnelTap } from './tap.ts';
import type { Throttle } from './throttle.ts';

/** How long a finished stream waits for the return path to close before the tunnel closes it. */
export const DEFAULT_RETURN_PATH_GRACE_MS = 10_000;

export interface TunnelResult {
  bytes: TunnelBytes;
  /** What passed, folded the way `ferry savevm inspect` reports it. */
  summary: InspectSummary;
  /** Always true: a stream that did not reach QEMU_VM_EOF rejects instead. */
  eof: boolean;
}

export interface TunnelEndOptions {
  migrationId: string;
  vm: string;
  onEvent?: TunnelEventHandler;
  returnPathGraceMs?: number;
}

interface Failure {
  code: TunnelErrorCode;
  message: string;
  offset?: number;
  cause?: unknown;
  reason?: string;
}

export abstract class TunnelEnd {
  readonly migrationId: string;
  readonly vm: string;
  abstract readonly side: TunnelSide;
  /** Settles once; already marked handled, so a caller that never awaits it is not an error. */
  readonly completion: Promise<TunnelResult>;

  protected readonly tap: TunnelTap;
  private readonly meter = new ByteMeter();
  private readonly summary = new SummaryBuilder();
  private readonly onEvent: TunnelEventHandler | undefined;
  private readonly graceMs: number;
  private readonly sockets = new Set<Socket>();
  private resolve!: (result: TunnelResult) => void;
  private reject!: (err: TunnelError) => void;
  private settled = false;
  private carrying = false;
  private forwardDone = false;
  private returnDone = false;
  private graceTimer: NodeJS.Timeout | null = null;
  private released: Promise<void> | null = null;

  constructor(options: TunnelEndOptions) {
    this.migrationId = options.migrationId;
    this.vm = options.vm;
    this.onEvent = options.onEvent;
    this.graceMs = options.returnPathGraceMs ?? DEFAULT_RETURN_PATH_GRACE_MS;
    this.completion = new Promise<TunnelResult>((resolve, reject) => {
      this.resolve = resolve;
      this.reject = reject;
    });
    this.completion.catch(() => undefined);
    this.tap = new TunnelTap((e) => this.sawItem(e));
  }

  get bytes(): TunnelBytes {
    return { toDestination: this.tap.passed, toSource: this.meter.bytes };
  }

  /** The tunnel has settled (completed, failed or closed). */
  get ended(): boolean {
    return this.settled;
  }

  /** Aborts everything (a cancelled migration); resolves once sockets and servers are gone. */
  async close(): Promise<void> {
    if (!this.settled) this.fail({ code: 'TUNNEL_CLOSED', message: 'closed before the stream completed' });
    await this.released;
  }

  /** Closes what only the subclass knows about (a listening socket, its file). Called once. */
  protected abstract release(): Promise<void>;

  /** Sockets destroyed when the tunnel settles. Before carrying starts, losing one fails it. */
  protected track(socket: Socket): void {
    this.sockets.add(socket);
    socket.on('error', () => undefined); // reported through close or the pipelines
    socket.once('close', () => {
      if (!this.carrying && !this.settled) {
        this.fail({ code: 'TUNNEL_BROKEN', message: 'connection closed before the stream started' });
      }
    });
  }

  /**
   * Carries the stream from `upstream` to `downstream` through the tap (and the throttle), and the
   * return path back, until the stream's end has gone through and the return path closed.
   */
  protected carry(upstream: Socket, downstream: Socket, peer: string, throttle?: Throttle): void {
    if (this.settled) return;
    this.carrying = true;
    this.track(upstream);
    this.track(downstream);
    // Each socket is in two pipelines (both directions); a TLS socket's own listeners take it past
    // the default of 10 'close' listeners, which Node would report as a leak. It is a fixed count.
    for (const s of [upstream, downstream]) s.setMaxListeners(Math.max(s.getMaxListeners(), 20));
    this.emit({ type: 'tunnel-opened', peer });
    const forward = throttle ? [this.tap, throttle] : [this.tap];
    pipeline([upstream, ...forward, downstream], (err) => this.forwardEnded(err));
    pipeline([downstream, this.meter, upstream], (err) => this.returnEnded(err));
  }

  protected emit(event: DistributiveOmit<TunnelEvent, 'migrationId' | 'vm' | 'side'>): void {
    if (!this.onEvent) return;
    try {
      this.onEvent({ ...event, migrationId: this.migrationId, vm: this.vm, side: this.side } as TunnelEvent);
    } catch {
      // A failing event consumer must not fail a migration; the agent's outbox reports its own errors.
    }
  }

  protected fail(f: Failure): void {
    if (this.settled) return;
    this.settled = true;
    const corrupt = this.tap.corrupt;
    const details = {
      migrationId: this.migrationId,
      vm: this.vm,
      side: this.side,
      offset: f.offset ?? this.tap.passed,
      bytes: this.bytes,
      ...(f.reason === undefined ? {} : { reason: f.reason }),
    };
    // Whichever pipeline noticed first, a parse failure is the cause and the parser knows where.
    const err =
      corrupt !== null && f.code === 'TUNNEL_BROKEN'
        ? new TunnelError('TUNNEL_CORRUPT_STREAM', { ...details, offset: corrupt.offset }, corrupt.detail, {
            cause: corrupt,
          })
        : new TunnelError(f.code, details, f.message, { cause: f.cause });
    this.emit({
      type: 'tunnel-broken',
      code: err.code,
      offset: err.offset,
      bytes: err.bytes,
      message: err.message,
    });
    this.teardown();
    void this.released!.then(() => this.reject(err));
  }

  private finish(): void {
    if (this.settled) return;
    this.settled = true;
    this.summary.summary.bytes = this.tap.passed;
    const result: TunnelResult = { bytes: this.bytes, summary: this.summary.summary, eof: true };
    this.emit({ type: 'tunnel-closed', bytes: result.bytes, summary: result.summary });
    this.teardown();
    void this.released!.then(() => this.resolve(result));
  }

  private teardown(): void {
    if (this.graceTimer) clearTimeout(this.graceTimer);
    for (const s of this.sockets) s.destroy();
    this.tap.destroy();
    this.meter.destroy();
    this.released = this.release().catch(() => undefined);
  }

  private forwardEnded(err: Error | null | undefined): void {
    if (err) {
      this.fail(
        isSavevmError(err)
          ? { code: 'TUNNEL_CORRUPT_STREAM', message: err.detail, offset: err.offset, cause: err }
          : { code: 'TUNNEL_BROKEN', message: `stream connection failed: ${err.message}`, cause: err },
      );
    } else if (this.tap.truncated) {
      const t = this.tap.truncated;
      this.fail({ code: 'TUNNEL_BROKEN', message: `stream ended early: ${t.detail}`, cause: t });
    } else {
      this.forwardDone = true;
      if (this.returnDone) this.finish();
      else this.graceTimer = setTimeout(() => this.finish(), this.graceMs);
    }
  }

  private returnEnded(err: Error | null | undefined): void {
    // After the whole stream went through, the return path has nothing left that matters.
    if (this.forwardDone) this.finish();
    else if (err)
      this.fail({ code: 'TUNNEL_BROKEN', message: `return path failed: ${err.message}`, cause: err });
    else this.returnDone = true;
  }

  private sawItem(e: SavevmEvent): void {
    this.summary.add(e);
    this.emit({ type: 'savevm', event: e });
  }
}

/** Omit applied to each member of a union, keeping it discriminated. */
type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;

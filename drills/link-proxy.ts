// A TCP link the drill controls, on loopback only: it forwards a listen port to a target in both
// directions, and on the drill's word cuts every connection at an exact byte offset of the
// client→server stream (or now), corrupts one byte at an offset, throttles to a rate, or
// blackholes: stops forwarding and accepts new connections without ever answering them, as a real
// network partition does (no RST, no FIN: the peers just hear nothing), until heal().
import { createServer, connect, type AddressInfo, type Server, type Socket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { z } from 'zod';
import { FerryError } from '../errors/ferry-error.ts';

const Loopback = z
  .string()
  .regex(/^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/, 'must be a loopback address (127.x.x.x)');
const Port = z.number().int().min(0).max(65535);

export const LinkProxyOptionsSchema = z.object({
  /** A name for errors and logs, e.g. `host-a/redis`. */
  name: z.string().min(1),
  listen: z.object({ host: Loopback, port: Port.default(0) }),
  target: z.object({ host: Loopback, port: Port.min(1) }),
});
export type LinkProxyOptions = z.input<typeof LinkProxyOptionsSchema>;

export class LinkProxyError extends FerryError {
  readonly code = 'LINK_PROXY_FAILED';
}

/** What happened to the stream when a one-shot rule fired. */
export interface RuleFired {
  rule: 'cut' | 'corrupt';
  /** Client→server offset of the connection at which it fired. */
  offset: number;
  /** The connection's number (1 = the first the proxy accepted). */
  connection: number;
}

/** A promise and the function that resolves it. */
function signal(): { promise: Promise<void>; resolve: () => void } {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}

interface Rule {
  kind: 'cut' | 'corrupt';
  offset: number;
  /** Only this connection's stream (a rule a chooser armed for the connection it read). */
  connection?: number;
  fired: (f: RuleFired) => void;
}

/**
 * Reads a connection's client→server chunks in order, each before it is forwarded, and says which
 * byte of it to flip: its offset in the connection, or undefined (see drills/page-flip.ts).
 */
export type CorruptionChooser = (chunk: Buffer, offset: number, connection: number) => number | undefined;

interface Chooser {
  choose: CorruptionChooser;
  fired: (f: RuleFired) => void;
}

/** One direction of one connection: bytes are forwarded in order, one chunk at a time. */
class Pipe {
  /** Bytes of this direction forwarded so far (the stream offset). */
  offset = 0;
  private readonly queue: Buffer[] = [];
  private busy = false;

  constructor(
    private readonly link: Link,
    readonly from: Socket,
    readonly to: Socket,
    readonly clientToServer: boolean,
  ) {
    from.on('data', (chunk: Buffer) => {
      this.queue.push(chunk);
      if (this.queue.length > 4) from.pause();
      void this.pump();
    });
    from.on('end', () => {
      this.queue.push(Buffer.alloc(0)); // an empty chunk marks the end, forwarded in order
      void this.pump();
    });
  }

  async pump(): Promise<void> {
    if (this.busy) return;
    this.busy = true;
    try {
      for (;;) {
        const chunk = this.queue.shift();
        if (chunk === undefined) break;
        if (chunk.length === 0) {
          if (!this.to.destroyed) this.to.end();
          continue;
        }
        await this.forward(chunk);
        if (this.link.closed) return;
        if (this.queue.length <= 4 && !this.from.destroyed) this.from.resume();
      }
    } finally {
      this.busy = false;
    }
  }

  private async forward(chunk: Buffer): Promise<void> {
    if (this.clientToServer) this.link.proxy.choose(chunk, this.offset, this.link.id);
    let rest = chunk;
    while (rest.length > 0 && !this.link.closed) {
      await this.link.proxy.whileBlackholed(this.link);
      if (this.link.closed) return;
      let n = rest.length;
      const rule = this.clientToServer
        ? this.link.proxy.nextRule(this.offset, rest.length, this.link.id)
        : undefined;
      if (rule) n = Math.min(n, Math.max(0, rule.offset - this.offset));
      n = await this.link.proxy.allowance(n, this.clientToServer);
      if (n > 0) {
        const slice = rest.subarray(0, n);
        rest = rest.subarray(n);
        this.offset += n;
        if (!this.to.write(slice)) await this.drained();
        continue;
      }
      // The stream is at a rule's offset.
      if (!rule) continue;
      this.link.proxy.consume(rule);
      const fired = { rule: rule.kind, offset: this.offset, connection: this.link.id };
      if (rule.kind === 'cut') {
        rule.fired(fired);
        this.link.proxy.cutAll();
        return;
      }
      const flipped = Buffer.from(rest.subarray(0, 1));
      flipped[0] = flipped[0]! ^ 0xff;
      rest = rest.subarray(1);
      this.offset += 1;
      rule.fired(fired);
      if (!this.to.write(flipped)) await this.drained();
    }
  }

  private drained(): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        this.to.off('drain', done);
        this.to.off('close', done);
        resolve();
      };
      this.to.once('drain', done).once('close', done);
    });
  }
}

class Link {
  closed = false;
  server: Socket | undefined;
  up: Pipe | undefined;

  constructor(
    readonly proxy: LinkProxy,
    readonly id: number,
    readonly client: Socket,
  ) {}

  async open(target: { host: string; port: number }): Promise<void> {
    // A connection accepted during a partition is held, never answered, until the link heals.
    await this.proxy.whileBlackholed(this);
    if (this.closed) return;
    const server = connect({ host: target.host, port: target.port, allowHalfOpen: true, noDelay: true });
    this.server = server;
    server.on('error', () => this.reset());
    server.on('close', (hadError) => (hadError ? this.reset() : this.settle()));
    server.once('connect', () => {
      this.up = new Pipe(this, this.client, server, true);
      new Pipe(this, server, this.client, false);
      this.client.resume();
    });
  }

  /** One side closed cleanly: what is queued for the other is still delivered (the pipes end it). */
  settle(): void {
    if (this.client.destroyed && (this.server?.destroyed ?? true)) {
      this.closed = true;
      this.proxy.forget(this);
    }
  }

  /** Tears both sides down with a reset, as a broken link does. */
  reset(): void {
    if (this.closed) return;
    this.closed = true;
    this.client.resetAndDestroy();
    if (this.server && !this.server.destroyed) this.server.resetAndDestroy();
    this.proxy.forget(this);
  }
}

export class LinkProxy {
  private readonly links = new Set<Link>();
  private readonly rules: Rule[] = [];
  private readonly choosers: Chooser[] = [];
  private nextId = 1;
  private rate: number | null = null;
  private readonly budget = { up: { bytes: 0, at: 0 }, down: { bytes: 0, at: 0 } };
  /** Blackholed: everything (`all`), or the connections coming from these addresses. */
  private readonly blocked = { all: false, from: new Set<string>() };
  private healed = signal();
  private stopped = false;
  /** Client→server bytes forwarded over all connections (a proxy's running total). */
  bytesUp = 0;
  accepted = 0;

  private constructor(
    private readonly server: Server,
    readonly name: string,
    readonly target: { host: string; port: number },
  ) {}

  static async open(options: LinkProxyOptions): Promise<LinkProxy> {
    const o = LinkProxyOptionsSchema.parse(options);
    const server = createServer({ allowHalfOpen: true, pauseOnConnect: true, noDelay: true });
    await new Promise<void>((resolve, reject) => {
      server.once('error', (err) =>
        reject(
          new LinkProxyError(`link ${o.name}: cannot listen on ${o.listen.host}:${o.listen.port}`, {
            cause: err,
          }),
        ),
      );
      server.listen(o.listen.port, o.listen.host, () => resolve());
    });
    const proxy = new LinkProxy(server, o.name, o.target);
    server.on('connection', (client) => proxy.accept(client));
    server.on('error', () => undefined);
    return proxy;
  }

  get address(): { host: string; port: number } {
    const a = this.server.address() as AddressInfo;
    return { host: a.address, port: a.port };
  }

  get connections(): number {
    return this.links.size;
  }

  get blackholed(): boolean {
    return this.blocked.all || this.blocked.from.size > 0;
  }

  private accept(client: Socket): void {
    if (this.stopped) {
      client.destroy();
      return;
    }
    this.accepted += 1;
    const link = new Link(this, this.nextId++, client);
    this.links.add(link);
    client.on('error', () => link.reset());
    client.on('close', (hadError) => (hadError ? link.reset() : link.settle()));
    void link.open(this.target);
  }

  forget(link: Link): void {
    this.links.delete(link);
  }

  /**
   * Cuts (resets) every connection once a connection's client→server stream reaches `offset`:
   * exactly `offset` bytes of that connection reach the server. One-shot; resolves when it fired,
   * with the offset it fired at (a connection already past `offset` is cut at its next byte).
   */
  cutAt(offset: number): Promise<RuleFired> {
    return this.arm('cut', offset);
  }

  /** Flips (xor 0xff) the byte at `offset` of the first connection's client→server stream to get there. */
  corruptAt(offset: number): Promise<RuleFired> {
    return this.arm('corrupt', offset);
  }

  /**
   * Flips (xor 0xff) the byte `choose` picks, in the connection whose chunk it picked it from.
   * One-shot; resolves when the flipped byte passed.
   */
  corruptWhere(choose: CorruptionChooser): Promise<RuleFired> {
    return new Promise((fired) => this.choosers.push({ choose, fired }));
  }

  /** Disarms the cut and corruption rules that have not fired. */
  disarm(): void {
    this.rules.length = 0;
    this.choosers.length = 0;
  }

  /** Resets every connection now. */
  cutAll(): void {
    for (const link of [...this.links]) link.reset();
  }

  /** Bytes per second in each direction, or null for no limit; effective at once. */
  throttle(bytesPerSecond: number | null): void {
    if (bytesPerSecond !== null) z.number().int().positive().parse(bytesPerSecond);
    this.rate = bytesPerSecond;
    const now = performance.now();
    this.budget.up = { bytes: 0, at: now };
    this.budget.down = { bytes: 0, at: now };
  }

  /**
   * Stops forwarding both ways and holds new connections unanswered, until heal(): every
   * connection, or (`from`) only those whose client connects from that address (a host on the
   * far side of a partition reaching this link).
   */
  blackhole(from?: string): void {
    if (from === undefined) this.blocked.all = true;
    else this.blocked.from.add(from);
    for (const link of this.links) {
      if (!this.isBlocked(link)) continue;
      link.client.pause();
      link.server?.pause();
    }
  }

  /**
   * Ends a blackhole (held bytes and connections go through, as TCP retransmits) and a throttle;
   * with `from`, only the blackhole of that peer address.
   */
  heal(from?: string): void {
    if (from === undefined) {
      this.blocked.all = false;
      this.blocked.from.clear();
      this.throttle(null);
    } else this.blocked.from.delete(from);
    const healed = this.healed;
    this.healed = signal();
    healed.resolve();
    for (const link of this.links) {
      if (!link.up) continue; // not connected yet: open() resumes it once it has a reader
      link.client.resume();
      link.server?.resume();
    }
  }

  async close(): Promise<void> {
    this.stopped = true;
    this.heal();
    this.cutAll();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  // --- used by the pipes ---

  isBlocked(link: Link): boolean {
    return this.blocked.all || this.blocked.from.has(link.client.remoteAddress ?? '');
  }

  async whileBlackholed(link: Link): Promise<void> {
    while (this.isBlocked(link) && !link.closed) await this.healed.promise;
  }

  nextRule(offset: number, length: number, connection: number): Rule | undefined {
    // A rule armed after a connection passed its offset fires at that connection's next byte.
    return this.rules
      .filter((r) => r.offset < offset + length && (r.connection ?? connection) === connection)
      .sort((a, b) => a.offset - b.offset)[0];
  }

  /** Shows a chunk about to be forwarded to the armed choosers; one that picks a byte becomes a rule. */
  choose(chunk: Buffer, offset: number, connection: number): void {
    for (const c of [...this.choosers]) {
      const at = c.choose(chunk, offset, connection);
      if (at === undefined) continue;
      if (at < offset || at >= offset + chunk.length)
        throw new LinkProxyError(
          `link ${this.name}: a chooser picked byte ${at} outside the chunk at ${offset}`,
        );
      this.choosers.splice(this.choosers.indexOf(c), 1);
      this.rules.push({ kind: 'corrupt', offset: at, connection, fired: c.fired });
    }
  }

  consume(rule: Rule): void {
    const i = this.rules.indexOf(rule);
    if (i >= 0) this.rules.splice(i, 1);
  }

  /**
   * How many of `wanted` bytes may go now under the throttle. Throttled, it hands out a quantum
   * of about 10 ms of traffic at a time and sleeps for the next: handing out the few bytes that
   * accrue while one write runs kept the pipe writing in a loop of microtasks that never yielded,
   * and starved every other link of this process (an agent's Redis reads went unanswered for
   * over a second, and its autokill killed a healthy incoming guest).
   */
  async allowance(wanted: number, up: boolean): Promise<number> {
    for (;;) {
      const rate = this.rate;
      if (wanted === 0 || rate === null) {
        if (up) this.bytesUp += wanted;
        return wanted;
      }
      const now = performance.now();
      const bucket = this.budget[up ? 'up' : 'down'];
      const quantum = Math.min(wanted, Math.max(1, Math.floor(rate / 100)));
      // A bucket of at most 50 ms of traffic (and at least one quantum), so a burst stays short.
      bucket.bytes = Math.min(Math.max(quantum, rate / 20), bucket.bytes + ((now - bucket.at) * rate) / 1000);
      bucket.at = now;
      if (bucket.bytes >= quantum) {
        const n = Math.min(wanted, Math.floor(bucket.bytes));
        bucket.bytes -= n;
        if (up) this.bytesUp += n;
        return n;
      }
      await sleep(Math.max(1, Math.ceil(((quantum - bucket.bytes) * 1000) / rate)));
    }
  }

  private arm(kind: 'cut' | 'corrupt', offset: number): Promise<RuleFired> {
    z.number().int().nonnegative().parse(offset);
    return new Promise((fired) => this.rules.push({ kind, offset, fired }));
  }
}

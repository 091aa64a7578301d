// A small QMP client: one unix socket, greeting and capability negotiation, commands matched to
// answers by id, events to listeners. Used by tests against real QEMU and by the host agent.
import { connect } from 'node:net';
import type { Socket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { QmpCommandError, QmpConnectionError, QmpProtocolError, QmpTimeoutError } from './errors.ts';
import { commandReturns, eventSchema, greetingSchema, responseSchema } from './schema.ts';
import type { QmpCommand, QmpCommandArgs, QmpEvent, QmpGreeting, QmpReturn } from './schema.ts';

export const DEFAULT_QMP_TIMEOUT_MS = 10_000;
/**
 * The longest line ferry takes from a QMP peer. A guest is not trusted: one that sends a line with
 * no end would grow the agent's buffer until the agent ran out of memory. QEMU 7.2's longest answer,
 * query-qmp-schema, is about 200 KB, and the answers ferry asks for are far smaller; 1 Mi characters
 * leaves room for any of them.
 */
export const MAX_QMP_LINE_CHARS = 1024 * 1024;

interface Pending {
  command: string;
  resolve(value: unknown): void;
  reject(err: Error): void;
}

/** How soon a refused connection is tried again (a connect to a unix socket costs microseconds). */
const CONNECT_RETRY_MS = 5;

export class QmpClient {
  private buffer = '';
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();
  private readonly listeners = new Set<(event: QmpEvent) => void>();
  private closed: Error | null = null;
  private greeted: ((line: string) => void) | null = null;
  /** Fails the handshake under way, with the reason the connection was shut. */
  private greetingFailed: ((err: Error) => void) | null = null;

  private constructor(private readonly socket: Socket) {
    socket.setEncoding('utf8');
    socket.on('data', (data: string) => this.onData(data));
    socket.on('error', (err) =>
      this.shut(new QmpConnectionError(`QMP socket error: ${err.message}`, { cause: err })),
    );
    socket.on('close', () => this.shut(new QmpConnectionError('QMP socket closed')));
  }

  /**
   * Connects to a QMP unix socket, retrying until `timeoutMs` (QEMU creates the socket a moment
   * after it starts), then reads the greeting and leaves capability negotiation mode.
   */
  static async connect(path: string, timeoutMs = DEFAULT_QMP_TIMEOUT_MS): Promise<QmpClient> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      try {
        const socket = await open(path);
        const client = new QmpClient(socket);
        await client.handshake(deadline - Date.now());
        return client;
      } catch (err) {
        if (!(err instanceof QmpConnectionError) || Date.now() >= deadline) throw err;
        // A guest listens within ~100-300 ms of its start, and Prepare waits for it: retry often.
        await sleep(CONNECT_RETRY_MS);
      }
    }
  }

  greeting!: QmpGreeting;

  /** Runs a command; resolves with its checked return value, rejects with QmpCommandError. */
  async execute<C extends QmpCommand>(
    command: C,
    ...[args, timeoutMs]: QmpCommandArgs[C] extends undefined
      ? [undefined?, number?]
      : [QmpCommandArgs[C], number?]
  ): Promise<QmpReturn<C>> {
    const raw = await this.send(command, args, timeoutMs ?? DEFAULT_QMP_TIMEOUT_MS);
    const parsed = commandReturns[command].safeParse(raw);
    if (!parsed.success) {
      throw new QmpProtocolError(
        `unexpected return from ${command}: ${parsed.error.issues[0]?.message ?? ''}`,
      );
    }
    return parsed.data as QmpReturn<C>;
  }

  /** Calls `listener` for every event until the returned function is called. */
  onEvent(listener: (event: QmpEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** The next event named `name` (and matching `match`), arriving after this call. */
  async waitForEvent(
    name: string,
    match: (e: QmpEvent) => boolean = () => true,
    timeoutMs = DEFAULT_QMP_TIMEOUT_MS,
  ): Promise<QmpEvent> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        off();
        reject(new QmpTimeoutError(`no QMP event ${name} within ${timeoutMs} ms`));
      }, timeoutMs);
      const off = this.onEvent((e) => {
        if (e.event === name && match(e)) {
          clearTimeout(timer);
          off();
          resolve(e);
        }
      });
    });
  }

  close(): void {
    this.socket.destroy();
  }

  private async handshake(timeoutMs: number): Promise<void> {
    const line = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new QmpTimeoutError('no QMP greeting')),
        Math.max(timeoutMs, 1000),
      );
      this.greeted = (l) => {
        clearTimeout(timer);
        this.greetingFailed = null;
        resolve(l);
      };
      this.greetingFailed = (err) => {
        clearTimeout(timer);
        reject(err);
      };
      this.socket.once('close', () => {
        clearTimeout(timer);
        reject(new QmpConnectionError('QMP socket closed before the greeting'));
      });
    });
    const greeting = greetingSchema.safeParse(parseJson(line));
    if (!greeting.success) throw new QmpProtocolError(`not a QMP greeting: ${line.slice(0, 200)}`);
    this.greeting = greeting.data;
    await this.execute('qmp_capabilities');
  }

  private send(command: string, args: unknown, timeoutMs: number): Promise<unknown> {
    if (this.closed) return Promise.reject(this.closed);
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new QmpTimeoutError(`QMP ${command}: no answer within ${timeoutMs} ms`));
      }, timeoutMs);
      this.pending.set(id, {
        command,
        resolve: (v) => {
          clearTimeout(timer);
          resolve(v);
        },
        reject: (e) => {
          clearTimeout(timer);
          reject(e);
        },
      });
      const message =
        args === undefined ? { execute: command, id } : { execute: command, arguments: args, id };
      this.socket.write(`${JSON.stringify(message)}\n`);
    });
  }

  private onData(data: string): void {
    this.buffer += data;
    let nl: number;
    while ((nl = this.buffer.indexOf('\n')) >= 0) {
      const line = this.buffer.slice(0, nl).trim();
      this.buffer = this.buffer.slice(nl + 1);
      if (line.length > 0) this.onLine(line);
    }
    // What is left has no newline yet: a peer past the limit is cut off rather than buffered.
    if (this.buffer.length > MAX_QMP_LINE_CHARS) {
      this.buffer = '';
      this.shut(
        new QmpProtocolError(
          `the QMP peer sent a line longer than ${MAX_QMP_LINE_CHARS} characters; connection cut off`,
        ),
      );
    }
  }

  private onLine(line: string): void {
    if (this.greeted) {
      const greeted = this.greeted;
      this.greeted = null;
      greeted(line);
      return;
    }
    const message = parseJson(line);
    const event = eventSchema.safeParse(message);
    if (event.success) {
      for (const l of [...this.listeners]) l(event.data);
      return;
    }
    const response = responseSchema.safeParse(message);
    const id = response.success && typeof response.data.id === 'number' ? response.data.id : undefined;
    const pending = id === undefined ? undefined : this.pending.get(id);
    if (!response.success || id === undefined || !pending) {
      this.shut(new QmpProtocolError(`unexpected QMP message: ${line.slice(0, 200)}`));
      return;
    }
    this.pending.delete(id);
    if ('error' in response.data) {
      pending.reject(
        new QmpCommandError(pending.command, response.data.error.class, response.data.error.desc),
      );
    } else {
      pending.resolve(response.data.return);
    }
  }

  private shut(err: Error): void {
    if (this.closed) return;
    this.closed = err;
    this.greetingFailed?.(err);
    this.greetingFailed = null;
    for (const p of this.pending.values()) p.reject(err);
    this.pending.clear();
    this.socket.destroy();
  }
}

function parseJson(line: string): unknown {
  try {
    return JSON.parse(line) as unknown;
  } catch {
    return undefined;
  }
}

function open(path: string): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect(path);
    socket.once('connect', () => {
      socket.removeAllListeners('error');
      resolve(socket);
    });
    socket.once('error', (err) =>
      reject(new QmpConnectionError(`cannot connect to QMP socket ${path}: ${err.message}`, { cause: err })),
    );
  });
}

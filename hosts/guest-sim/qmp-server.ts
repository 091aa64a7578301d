// QMP over a unix socket, server side, as QEMU's monitor speaks it: a greeting, capability
// negotiation, then one JSON command per line answered in order (with the caller's id), and
// events with QEMU's timestamps to every negotiated client. Any number of clients may connect
// over time (an agent that crashed reconnects). Input is checked with zod: a malformed command
// gets a QMP error, never a crash.
import { createServer } from 'node:net';
import type { Server, Socket } from 'node:net';
import { unlinkSync } from 'node:fs';
import { z } from 'zod';
import type { Logger } from '../../infra/logging/logger.ts';
import { QmpError } from './errors.ts';

/** A line longer than this is not a command anyone sends: it is dropped with an error. */
const MAX_LINE_BYTES = 1024 * 1024;

const envelopeSchema = z.strictObject({
  execute: z.string().min(1),
  arguments: z.record(z.string(), z.unknown()).optional(),
  id: z.unknown().optional(),
});

export type QmpDispatch = (command: string, args: Record<string, unknown>) => unknown;

export interface QmpServerOptions {
  path: string;
  greeting: object;
  dispatch: QmpDispatch;
  log: Logger;
}

interface Session {
  socket: Socket;
  negotiated: boolean;
  buffer: string;
  /** Commands run one after the other, as QEMU's monitor runs them. */
  queue: Promise<void>;
}

export class QmpServer {
  private readonly sessions = new Set<Session>();
  private server: Server | null = null;

  constructor(private readonly options: QmpServerOptions) {}

  async listen(): Promise<void> {
    removeFile(this.options.path);
    const server = createServer((socket) => this.accept(socket));
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(this.options.path, () => resolve());
    });
    server.on('error', (err) => this.options.log.error('QMP socket error', { error: err.message }));
    this.server = server;
  }

  /** Sends an event to every client past capability negotiation. */
  broadcast(event: string, data?: Record<string, unknown>): void {
    const now = performance.timeOrigin + performance.now();
    const timestamp = { seconds: Math.floor(now / 1000), microseconds: Math.floor((now % 1000) * 1000) };
    const message = data === undefined ? { timestamp, event } : { timestamp, event, data };
    for (const s of this.sessions) if (s.negotiated) send(s, message);
  }

  /** Stops listening, lets queued output drain (at most `graceMs`), removes the socket file. */
  async close(graceMs = 500): Promise<void> {
    this.server?.close();
    removeFile(this.options.path);
    const flushed = [...this.sessions].map(
      (s) => new Promise<void>((resolve) => s.socket.end(() => resolve())),
    );
    await Promise.race([Promise.all(flushed), new Promise((r) => setTimeout(r, graceMs))]);
    for (const s of this.sessions) s.socket.destroy();
  }

  /** Stops at once, as a killed process's sockets do: nothing queued is sent. */
  destroy(): void {
    this.server?.close();
    removeFile(this.options.path);
    for (const s of this.sessions) s.socket.destroy();
    this.sessions.clear();
  }

  private accept(socket: Socket): void {
    const session: Session = { socket, negotiated: false, buffer: '', queue: Promise.resolve() };
    this.sessions.add(session);
    socket.setEncoding('utf8');
    socket.on('data', (data: string) => this.onData(session, data));
    socket.on('error', () => undefined); // a client that vanished is not the guest's problem
    socket.on('close', () => this.sessions.delete(session));
    send(session, this.options.greeting);
  }

  private onData(session: Session, data: string): void {
    session.buffer += data;
    let nl: number;
    while ((nl = session.buffer.indexOf('\n')) >= 0) {
      const line = session.buffer.slice(0, nl).trim();
      session.buffer = session.buffer.slice(nl + 1);
      if (line.length > 0) session.queue = session.queue.then(() => this.onLine(session, line));
    }
    if (session.buffer.length > MAX_LINE_BYTES) {
      session.buffer = '';
      send(session, errorReply('GenericError', `JSON input longer than ${MAX_LINE_BYTES} bytes`, undefined));
    }
  }

  private async onLine(session: Session, line: string): Promise<void> {
    let json: unknown;
    try {
      json = JSON.parse(line);
    } catch (err) {
      send(session, errorReply('GenericError', `JSON parse error, ${(err as Error).message}`, undefined));
      return;
    }
    const parsed = envelopeSchema.safeParse(json);
    if (!parsed.success) {
      const id = typeof json === 'object' && json !== null && 'id' in json ? json.id : undefined;
      send(session, errorReply('GenericError', envelopeError(json, parsed.error), id));
      return;
    }
    const { execute, id } = parsed.data;
    const args = parsed.data.arguments ?? {};
    if (!session.negotiated) {
      if (execute === 'qmp_capabilities') {
        session.negotiated = true;
        send(session, okReply({}, id));
      } else {
        send(
          session,
          errorReply('CommandNotFound', "Expecting capabilities negotiation with 'qmp_capabilities'", id),
        );
      }
      return;
    }
    if (execute === 'qmp_capabilities') {
      send(
        session,
        errorReply('CommandNotFound', 'Capabilities negotiation is already complete, command ignored', id),
      );
      return;
    }
    try {
      const result = await this.options.dispatch(execute, args);
      send(session, okReply(result ?? {}, id));
    } catch (err) {
      if (err instanceof QmpError) {
        send(session, errorReply(err.errorClass, err.desc, id));
      } else {
        this.options.log.error('QMP command failed unexpectedly', { command: execute, error: err as Error });
        send(session, errorReply('GenericError', `internal error: ${(err as Error).message}`, id));
      }
    }
  }
}

function envelopeError(json: unknown, error: z.ZodError): string {
  if (typeof json !== 'object' || json === null || Array.isArray(json))
    return 'QMP input must be a JSON object';
  const issue = error.issues[0];
  if (issue?.code === 'unrecognized_keys') return `QMP input member '${issue.keys[0] ?? ''}' is unexpected`;
  const member = String(issue?.path[0] ?? 'execute');
  if (!(member in json)) return `QMP input lacks member '${member}'`;
  return `QMP input member '${member}' has the wrong type: ${issue?.message ?? ''}`;
}

function okReply(value: unknown, id: unknown): object {
  return id === undefined ? { return: value } : { return: value, id };
}

function errorReply(errorClass: string, desc: string, id: unknown): object {
  const error = { class: errorClass, desc };
  return id === undefined ? { error } : { error, id };
}

function send(session: Session, message: object): void {
  if (!session.socket.destroyed && session.socket.writable)
    session.socket.write(`${JSON.stringify(message)}\r\n`);
}

function removeFile(path: string): void {
  try {
    unlinkSync(path);
  } catch {
    // absent already
  }
}

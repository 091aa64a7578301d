// Temporal's remote codec protocol, so the Temporal UI (and `temporal --codec-endpoint`) shows an
// operator the payloads the codec encrypted: POST /decode and /encode take and give
// {"payloads": [{"metadata": {k: base64}, "data": base64}]}, as Temporal's codec servers do. It
// decrypts for whoever reaches it, so it listens on loopback only, beside the UI (which is on
// loopback too), and a browser is let in only from the UI's own origin (CORS); a request naming
// another origin is refused, so no other web page the operator has open can read payloads.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Payload, PayloadCodec } from '@temporalio/common';
import { z } from 'zod';
import { FerryError } from '../../errors/ferry-error.ts';
import type { Config } from '../config.ts';

/** A UI page asks for one event's payloads or one list's; far under this. */
export const MAX_BODY_BYTES = 4 * 1024 * 1024;

const b64 = z.base64();
const BodySchema = z.strictObject({
  payloads: z
    .array(
      z.object({
        metadata: z.record(z.string(), b64).nullish(),
        data: b64.nullish(),
      }),
    )
    .max(10_000),
});

/** Where the UI reaches `ferry codec serve`: what `stack up` passes as --ui-codec-endpoint. */
export function codecEndpoint(cfg: Config): string {
  return `http://127.0.0.1:${cfg.codec.port}`;
}

/** The Temporal UI's origins as a browser names them. */
export function uiOrigins(cfg: Config): string[] {
  const hosts = new Set(['127.0.0.1', 'localhost', cfg.bindHost]);
  return [...hosts].map((h) => `http://${h}:${cfg.temporal.uiPort}`);
}

export interface CodecServerOptions {
  host: string;
  port: number;
  /** Browser origins let in (the Temporal UI's). */
  origins: readonly string[];
}

export class CodecServerError extends FerryError {
  readonly code = 'CODEC_SERVER_FAILED';
}

/** Listens until closed; resolves once listening, with the bound address. */
export async function serveCodec(
  codec: PayloadCodec,
  opts: CodecServerOptions,
): Promise<{ server: Server; address: AddressInfo }> {
  const server = createServer((req, res) => void handle(codec, opts, req, res));
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) =>
      reject(
        new CodecServerError(`cannot listen on ${opts.host}:${opts.port}: ${err.code ?? err.message}`, {
          cause: err,
          hint: 'pick another port with --address 127.0.0.1:PORT (or FERRY_CODEC_PORT)',
        }),
      ),
    );
    server.listen(opts.port, opts.host, resolve);
  });
  return { server, address: server.address() as AddressInfo };
}

async function handle(
  codec: PayloadCodec,
  opts: CodecServerOptions,
  req: IncomingMessage,
  res: ServerResponse,
): Promise<void> {
  const origin = req.headers.origin;
  if (origin !== undefined) {
    if (!opts.origins.includes(origin)) return reply(res, 403, { error: `origin ${origin} is not let in` });
    res.setHeader('Access-Control-Allow-Origin', origin);
    res.setHeader('Access-Control-Allow-Credentials', 'true');
    res.setHeader('Vary', 'Origin');
  }
  if (req.method === 'OPTIONS') {
    res.setHeader('Access-Control-Allow-Methods', 'POST, OPTIONS');
    res.setHeader('Access-Control-Allow-Headers', 'content-type, x-namespace, authorization');
    res.setHeader('Access-Control-Max-Age', '600');
    res.writeHead(204).end();
    return;
  }
  const path = new URL(req.url ?? '/', 'http://codec').pathname.replace(/\/+$/, '');
  const op = path === '/decode' ? 'decode' : path === '/encode' ? 'encode' : undefined;
  if (op === undefined) return reply(res, 404, { error: 'POST /decode or /encode' });
  if (req.method !== 'POST') return reply(res, 405, { error: `${op} takes POST` });
  let body: z.infer<typeof BodySchema>;
  try {
    body = BodySchema.parse(JSON.parse(await readBody(req)));
  } catch (err) {
    if (err instanceof TooLarge) {
      // Said, then the connection closed: the rest of the body is never read.
      res.setHeader('connection', 'close');
      res.on('finish', () => req.destroy());
      return reply(res, 413, { error: err.message });
    }
    const issue = err instanceof z.ZodError ? err.issues[0] : undefined;
    const why = issue ? `${issue.path.join('.') || 'body'} ${issue.message}` : oneLine(err);
    return reply(res, 400, { error: `the body is not {"payloads": [...]} of base64 fields: ${why}` });
  }
  try {
    const payloads = body.payloads.map(fromJson);
    const out = op === 'decode' ? await codec.decode(payloads) : await codec.encode(payloads);
    reply(res, 200, { payloads: out.map(toJson) });
  } catch (err) {
    // A payload the codec refuses (unknown key, altered) is the caller's problem, said in one line.
    reply(res, err instanceof FerryError ? 422 : 500, { error: oneLine(err) });
  }
}

class TooLarge extends Error {}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_BODY_BYTES) {
        req.removeAllListeners('data');
        req.pause();
        reject(new TooLarge(`the body is over ${MAX_BODY_BYTES} bytes`));
        return;
      }
      chunks.push(chunk);
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

function reply(res: ServerResponse, status: number, body: unknown): void {
  if (res.destroyed) return;
  res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
}

function fromJson(p: { metadata?: Record<string, string> | null; data?: string | null }): Payload {
  return {
    metadata: Object.fromEntries(
      Object.entries(p.metadata ?? {}).map(([k, v]) => [k, Buffer.from(v, 'base64')]),
    ),
    data: Buffer.from(p.data ?? '', 'base64'),
  };
}

function toJson(p: Payload): { metadata: Record<string, string>; data: string } {
  return {
    metadata: Object.fromEntries(
      Object.entries(p.metadata ?? {}).map(([k, v]) => [k, Buffer.from(v).toString('base64')]),
    ),
    data: Buffer.from(p.data ?? new Uint8Array()).toString('base64'),
  };
}

function oneLine(err: unknown): string {
  return (err instanceof Error ? err.message : String(err)).split('\n')[0] ?? '';
}

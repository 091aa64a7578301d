// The remote codec's HTTP side, on a real loopback socket with a codec of the test's own: the UI's
// origin gets CORS and the payloads through the codec, another origin nothing; a wrong path,
// method, body or size, and a payload the codec refuses, are each their own status with one line.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { Server } from 'node:http';
import type { Payload, PayloadCodec } from '@temporalio/common';
import { MAX_BODY_BYTES, serveCodec } from '../../infra/temporal/codec-server.ts';
import { PayloadCodecError } from '../../infra/temporal/payload-codec.ts';

const UI = 'http://127.0.0.1:8233';
/** Reverses data; refuses a payload whose data is 'bad', as a codec refuses an altered payload. */
const reversing: PayloadCodec = {
  encode: (ps: Payload[]) => Promise.resolve(ps.map((p) => ({ ...p, data: Buffer.from(p.data!).reverse() }))),
  decode: (ps: Payload[]) =>
    ps.some((p) => Buffer.from(p.data!).toString() === 'bad')
      ? Promise.reject(
          new PayloadCodecError('a payload encrypted under codec key 0a0a0a0a does not authenticate'),
        )
      : Promise.resolve(ps.map((p) => ({ ...p, data: Buffer.from(p.data!).reverse() }))),
};
let server: Server;
let url: string;

before(async () => {
  const served = await serveCodec(reversing, { host: '127.0.0.1', port: 0, origins: [UI] });
  server = served.server;
  url = `http://127.0.0.1:${served.address.port}`;
});
after(() => new Promise<void>((resolve) => server.close(() => resolve())));

const b64 = (s: string) => Buffer.from(s).toString('base64');
const post = (path: string, body: string, headers: Record<string, string> = {}) =>
  fetch(`${url}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body,
  });

test('codec server - decode and encode run the codec, metadata kept, for the UI with CORS', async () => {
  const body = JSON.stringify({
    payloads: [{ metadata: { encoding: b64('binary/encrypted') }, data: b64('abc') }],
  });
  for (const [path, expected] of [
    ['/decode', 'cba'],
    ['/encode/', 'cba'],
  ] as const) {
    const res = await post(path, body, { origin: UI });
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('access-control-allow-origin'), UI);
    const { payloads } = (await res.json()) as {
      payloads: { metadata: Record<string, string>; data: string }[];
    };
    assert.equal(Buffer.from(payloads[0]!.data, 'base64').toString(), expected);
    assert.equal(Buffer.from(payloads[0]!.metadata.encoding!, 'base64').toString(), 'binary/encrypted');
  }
  const cli = await post('/decode', body); // `temporal --codec-endpoint`: no Origin at all
  assert.equal(cli.status, 200);
  assert.equal(cli.headers.get('access-control-allow-origin'), null);
});

test('codec server - another origin is refused, its preflight too', async () => {
  const body = JSON.stringify({ payloads: [] });
  const res = await post('/decode', body, { origin: 'http://127.0.0.1:9999' });
  assert.equal(res.status, 403);
  assert.equal(res.headers.get('access-control-allow-origin'), null);
  const pre = await fetch(`${url}/decode`, { method: 'OPTIONS', headers: { origin: 'http://evil.example' } });
  assert.equal(pre.status, 403);
  const ok = await fetch(`${url}/decode`, { method: 'OPTIONS', headers: { origin: UI } });
  assert.equal(ok.status, 204);
  assert.match(ok.headers.get('access-control-allow-methods') ?? '', /POST/);
});

test('codec server - wrong path, method, body and size each have their status and one line', async () => {
  const error = async (res: Response, status: number, mentions: RegExp) => {
    assert.equal(res.status, status);
    const { error: message } = (await res.json()) as { error: string };
    assert.match(message, mentions);
    assert.ok(!message.includes('\n'));
  };
  await error(await post('/nope', '{}'), 404, /POST \/decode or \/encode/);
  await error(await fetch(`${url}/decode`), 405, /decode takes POST/);
  await error(await post('/decode', 'not json'), 400, /not \{"payloads"/);
  await error(await post('/decode', '{"payloads":[{"data":"@@"}]}'), 400, /payloads\.0\.data/);
  await error(await post('/decode', '{"payloads":[],"extra":1}'), 400, /payloads/);
  await error(
    await post('/decode', JSON.stringify({ payloads: [{ data: b64('bad') }] })),
    422,
    /does not authenticate/,
  );
  const big = JSON.stringify({ payloads: [{ data: 'A'.repeat(MAX_BODY_BYTES) }] });
  await error(await post('/decode', big), 413, /over 4194304 bytes/);
});

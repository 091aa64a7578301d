// The payload codec: what Temporal stores is AES-256-GCM ciphertext naming its key id, nothing of
// the payload in clear; decoding gives back the payload exactly, under any key the ring has
// kept; a changed byte, a relabelled key id or an unknown key is refused with one clear line;
// payloads written before the codec pass through.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { defaultPayloadConverter, METADATA_ENCODING_KEY, type Payload } from '@temporalio/common';
import {
  AesGcmPayloadCodec,
  ENCRYPTED_ENCODING,
  KEY_ID_METADATA,
  PayloadCodecError,
  type CodecKeys,
} from '../../infra/temporal/payload-codec.ts';

const TOKEN = 'q8ZbN2xV7mKp4RtY1wLs9HjG3fDc6AeB0uIoPnXkQzE';
const input = { vm: 'web-1', tunnel: { host: '10.77.0.12', port: 40123, token: TOKEN } };

/** A ring in memory: ids in order of creation, the last current. */
function ring(...ids: string[]): CodecKeys & { keys: Map<string, Buffer>; rotate(id: string): void } {
  const keys = new Map(ids.map((id, i) => [id, Buffer.alloc(32, i + 1)]));
  let current = ids.at(-1)!;
  return {
    keys,
    rotate(id) {
      keys.set(id, Buffer.alloc(32, keys.size + 1));
      current = id;
    },
    current: () => Promise.resolve({ id: current, key: keys.get(current)! }),
    byId: (id) => Promise.resolve(keys.get(id)),
  };
}

const text = (b: Uint8Array | null | undefined) => Buffer.from(b ?? new Uint8Array()).toString('utf8');

function refused(err: unknown, mentions: RegExp): boolean {
  assert.ok(err instanceof PayloadCodecError, `expected a PayloadCodecError, got ${String(err)}`);
  assert.equal(err.code, 'PAYLOAD_UNDECODABLE');
  assert.ok(!err.message.includes('\n'), 'one line');
  assert.match(err.message, mentions);
  return true;
}

test('payload codec - a round trip gives back the payload, metadata and all, and stores nothing in clear', async () => {
  const codec = new AesGcmPayloadCodec(ring('0a0a0a0a'));
  const plain = defaultPayloadConverter.toPayload(input);
  const [encoded] = await codec.encode([plain]);
  assert.ok(encoded);
  assert.deepEqual(
    Object.keys(encoded.metadata ?? {}).sort(),
    [KEY_ID_METADATA, METADATA_ENCODING_KEY].sort(),
  );
  assert.equal(text(encoded.metadata?.[METADATA_ENCODING_KEY]), ENCRYPTED_ENCODING);
  assert.equal(text(encoded.metadata?.[KEY_ID_METADATA]), '0a0a0a0a');
  const stored = Buffer.from(encoded.data!).toString('latin1');
  for (const secret of [TOKEN, '10.77.0.12', 'web-1', 'json/plain'])
    assert.ok(!stored.includes(secret), `${secret} is not in the stored bytes`);
  const [decoded] = await codec.decode([encoded]);
  assert.equal(text(decoded?.metadata?.[METADATA_ENCODING_KEY]), 'json/plain');
  assert.deepEqual(defaultPayloadConverter.fromPayload(decoded!), input);
});

test('payload codec - every encoding draws its own nonce', async () => {
  const codec = new AesGcmPayloadCodec(ring('0a0a0a0a'));
  const plain = defaultPayloadConverter.toPayload(input);
  const [a, b] = await codec.encode([plain, plain]);
  assert.notDeepEqual(Buffer.from(a!.data!).subarray(0, 12), Buffer.from(b!.data!).subarray(0, 12));
  assert.notDeepEqual(Buffer.from(a!.data!), Buffer.from(b!.data!));
});

test('payload codec - after a rotation new payloads use the new key and old ones still decode', async () => {
  const keys = ring('0a0a0a0a');
  const codec = new AesGcmPayloadCodec(keys);
  const [old] = await codec.encode([defaultPayloadConverter.toPayload('before')]);
  keys.rotate('0b0b0b0b');
  const [fresh] = await codec.encode([defaultPayloadConverter.toPayload('after')]);
  assert.equal(text(old!.metadata?.[KEY_ID_METADATA]), '0a0a0a0a');
  assert.equal(text(fresh!.metadata?.[KEY_ID_METADATA]), '0b0b0b0b');
  const decoded = await codec.decode([old!, fresh!]);
  assert.deepEqual(
    decoded.map((p) => defaultPayloadConverter.fromPayload(p)),
    ['before', 'after'],
  );
});

test('payload codec - a changed byte anywhere in the ciphertext is refused', async () => {
  const codec = new AesGcmPayloadCodec(ring('0a0a0a0a'));
  const [encoded] = await codec.encode([defaultPayloadConverter.toPayload(input)]);
  const data = Buffer.from(encoded!.data!);
  for (const at of [0, 12, Math.floor(data.length / 2), data.length - 1]) {
    const tampered = Buffer.from(data);
    tampered[at] = tampered[at]! ^ 0x01;
    await assert.rejects(codec.decode([{ ...encoded!, data: tampered }]), (err) =>
      refused(err, /does not authenticate/),
    );
  }
  await assert.rejects(codec.decode([{ ...encoded!, data: data.subarray(0, 20) }]), (err) =>
    refused(err, /too short/),
  );
});

test('payload codec - a payload relabelled with another key id of the ring is refused', async () => {
  const keys = ring('0a0a0a0a', '0b0b0b0b');
  const codec = new AesGcmPayloadCodec(keys);
  const [encoded] = await codec.encode([defaultPayloadConverter.toPayload(input)]);
  const relabelled: Payload = {
    ...encoded!,
    metadata: { ...encoded!.metadata, [KEY_ID_METADATA]: Buffer.from('0a0a0a0a') },
  };
  await assert.rejects(codec.decode([relabelled]), (err) =>
    refused(err, /key 0a0a0a0a does not authenticate/),
  );
});

test('payload codec - an unknown key id, or none, is a clear error naming it', async () => {
  const [encoded] = await new AesGcmPayloadCodec(ring('0c0c0c0c')).encode([
    defaultPayloadConverter.toPayload(1),
  ]);
  const other = new AesGcmPayloadCodec(ring('0a0a0a0a'));
  await assert.rejects(other.decode([encoded!]), (err) =>
    refused(err, /codec key 0c0c0c0c, which the keyring does not have/),
  );
  const { [KEY_ID_METADATA]: _dropped, ...withoutId } = encoded!.metadata!;
  await assert.rejects(other.decode([{ ...encoded!, metadata: withoutId }]), (err) =>
    refused(err, /names no key id/),
  );
});

test('payload codec - payloads that are not encrypted pass through unchanged (histories from before the codec)', async () => {
  const codec = new AesGcmPayloadCodec(ring('0a0a0a0a'));
  const plain = [defaultPayloadConverter.toPayload(input), defaultPayloadConverter.toPayload(undefined), {}];
  const decoded = await codec.decode(plain);
  assert.equal(decoded.length, 3);
  decoded.forEach((p, i) => assert.equal(p, plain[i], `payload ${i} is the very same object`));
  assert.deepEqual(await codec.encode([]), []);
});

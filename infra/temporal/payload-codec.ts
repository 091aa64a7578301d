// Temporal keeps every workflow's inputs, results, signals and activity payloads in its history
// for as long as the history lives, and anyone who can read the history reads them: the cookies
// with their one-time tunnel tokens, lockstate and addresses. This codec encrypts each payload
// with AES-256-GCM under the codec ring's current key before it leaves the process, as Temporal's
// encryption sample does: metadata says `binary/encrypted` and names the key id, the data is
// nonce (96 bits, random) || ciphertext || tag, the plaintext the whole original payload (its
// metadata too) in Temporal's protobuf encoding, so nothing but the key id is left in clear.
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { METADATA_ENCODING_KEY, type Payload, type PayloadCodec } from '@temporalio/common';
// A CommonJS module: Node's ESM loader sees only its default export.
import proto from '@temporalio/proto';
import { FerryError } from '../../errors/ferry-error.ts';

export const ENCRYPTED_ENCODING = 'binary/encrypted';
/** The metadata key Temporal's samples and codec servers use for the key id. */
export const KEY_ID_METADATA = 'encryption-key-id';
const NONCE_BYTES = 12;
const TAG_BYTES = 16;
const ProtoPayload = proto.temporal.api.common.v1.Payload;

export interface CodecKeys {
  /** The key new payloads are encrypted under. */
  current(): Promise<{ id: string; key: Buffer }>;
  /** The key of that id, old ones included (history is forever), or undefined if there is none. */
  byId(id: string): Promise<Buffer | undefined>;
}

export class PayloadCodecError extends FerryError {
  readonly code = 'PAYLOAD_UNDECODABLE';
}

export class AesGcmPayloadCodec implements PayloadCodec {
  constructor(private readonly keys: CodecKeys) {}

  async encode(payloads: Payload[]): Promise<Payload[]> {
    if (payloads.length === 0) return payloads;
    const { id, key } = await this.keys.current();
    return payloads.map((payload) => encrypt(payload, id, key));
  }

  /** Payloads that are not encrypted pass through: histories recorded before the codec replay. */
  decode(payloads: Payload[]): Promise<Payload[]> {
    return Promise.all(payloads.map((payload) => this.decodeOne(payload)));
  }

  private async decodeOne(payload: Payload): Promise<Payload> {
    if (!isEncrypted(payload)) return payload;
    const idBytes = payload.metadata?.[KEY_ID_METADATA];
    const id = idBytes ? Buffer.from(idBytes).toString('utf8') : '';
    if (id === '')
      throw new PayloadCodecError('an encrypted payload names no key id, so it cannot be decrypted', {
        hint: 'it was not made by ferry, or its metadata was altered',
      });
    const key = await this.keys.byId(id);
    if (key === undefined)
      throw new PayloadCodecError(
        `a payload is encrypted under codec key ${id}, which the keyring does not have`,
        { hint: 'codec keys are never removed: restore ferry:{keyring}:codec in Redis from a backup' },
      );
    return decrypt(payload.data ?? new Uint8Array(), id, key);
  }
}

export function isEncrypted(payload: Payload): boolean {
  const encoding = payload.metadata?.[METADATA_ENCODING_KEY];
  return (
    encoding !== undefined &&
    encoding !== null &&
    Buffer.from(encoding).toString('utf8') === ENCRYPTED_ENCODING
  );
}

/** The key id is authenticated too: a payload relabelled with another id fails like a forged one. */
function aad(id: string): Buffer {
  return Buffer.from(`${ENCRYPTED_ENCODING};${id}`, 'utf8');
}

function encrypt(payload: Payload, id: string, key: Buffer): Payload {
  const nonce = randomBytes(NONCE_BYTES);
  const cipher = createCipheriv('aes-256-gcm', key, nonce, { authTagLength: TAG_BYTES });
  cipher.setAAD(aad(id));
  const plain = ProtoPayload.encode(payload).finish();
  const data = Buffer.concat([nonce, cipher.update(plain), cipher.final(), cipher.getAuthTag()]);
  return {
    metadata: {
      [METADATA_ENCODING_KEY]: Buffer.from(ENCRYPTED_ENCODING, 'utf8'),
      [KEY_ID_METADATA]: Buffer.from(id, 'utf8'),
    },
    data,
  };
}

function decrypt(data: Uint8Array, id: string, key: Buffer): Payload {
  const bytes = Buffer.from(data);
  if (bytes.length < NONCE_BYTES + TAG_BYTES)
    throw new PayloadCodecError(
      `a payload encrypted under codec key ${id} is ${bytes.length} bytes, too short to be one`,
    );
  const decipher = createDecipheriv('aes-256-gcm', key, bytes.subarray(0, NONCE_BYTES), {
    authTagLength: TAG_BYTES,
  });
  decipher.setAAD(aad(id));
  decipher.setAuthTag(bytes.subarray(bytes.length - TAG_BYTES));
  let plain: Buffer;
  try {
    plain = Buffer.concat([
      decipher.update(bytes.subarray(NONCE_BYTES, bytes.length - TAG_BYTES)),
      decipher.final(),
    ]);
  } catch (err) {
    throw new PayloadCodecError(
      `a payload encrypted under codec key ${id} does not authenticate: it was altered, or encrypted with another key of that id`,
      { cause: err },
    );
  }
  const { metadata, data: inner, externalPayloads } = ProtoPayload.decode(plain);
  return externalPayloads.length > 0
    ? { metadata, data: inner, externalPayloads }
    : { metadata, data: inner };
}

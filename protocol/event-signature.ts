// Every event carries its publisher's Ed25519 signature, so that the log proves who wrote each
// event: Kafka's ACLs say who may write the topic, not that a host wrote what it claims.
//
// What is signed: the event as a JSON object without its `sig` field, in RFC 8785's canonical form
// (keys sorted, no white space, numbers and strings as ECMAScript's JSON.stringify writes them),
// after a domain tag. Not the value's bytes, and not a Kafka header: the signature is a property
// of the event, so it survives anything that re-encodes or copies the event (the outbox writing
// it again after a crash, the dead-letter topic, a mirror, a tool that exports values only) and
// it is checked the same way from the outbox line, from Kafka or from a file. Ed25519 is
// deterministic: the same event signed twice (shipped twice) has the same signature.
import { createPrivateKey, createPublicKey, sign, verify, type KeyObject } from 'node:crypto';
import { FerryError } from '../errors/ferry-error.ts';
import { keyIdOfPem } from '../infra/redis/event-keys.ts';
import type { FerryEvent } from './events.ts';

export const SIGNATURE_ALG = 'ed25519';
/** Keeps an event's signature from being taken for any other thing the same key might sign. */
const DOMAIN = 'ferry.event.v1\n';

/** A signing key that is not an Ed25519 private key, or a public key that is not one either. */
export class EventKeyError extends FerryError {
  readonly code = 'EVENT_KEY_INVALID';
}

/** RFC 8785 (JCS) for what JSON.parse can return: sorted keys, ECMAScript's own number and string forms. */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') {
    // Numbers: ECMAScript's shortest round-trip form is JCS's. Strings: its escaping is too.
    return JSON.stringify(value) ?? 'null';
  }
  if (Array.isArray(value)) {
    return `[${value.map((v) => (v === undefined ? 'null' : canonicalJson(v))).join(',')}]`;
  }
  const record = value as Record<string, unknown>;
  const parts: string[] = [];
  // The default sort compares UTF-16 code units, which is the order JCS asks for.
  for (const key of Object.keys(record).sort()) {
    const v = record[key];
    if (v === undefined) continue; // as JSON.stringify: an absent optional field
    parts.push(`${JSON.stringify(key)}:${canonicalJson(v)}`);
  }
  return `{${parts.join(',')}}`;
}

/** The bytes a signature covers: the domain tag and the event without `sig`, canonical. */
export function signedBytes(event: object): Buffer {
  const { sig: _sig, ...rest } = event as Record<string, unknown>;
  return Buffer.from(DOMAIN + canonicalJson(rest), 'utf8');
}

/** A key's id: the first 16 hex digits of the SHA-256 of its public key (SPKI DER), as the registry has it. */
export function keyIdOf(publicKey: KeyObject): string {
  return keyIdOfPem(publicKey.export({ type: 'spki', format: 'pem' }).toString());
}

/** An Ed25519 public key from its PEM, refused if it is anything else. */
export function eventPublicKey(pem: string | Buffer): KeyObject {
  let key: KeyObject;
  try {
    key = createPublicKey(pem);
  } catch (err) {
    throw new EventKeyError(`not a public key: ${(err as Error).message}`, { cause: err });
  }
  if (key.asymmetricKeyType !== SIGNATURE_ALG) {
    throw new EventKeyError(`an event key must be Ed25519, not ${key.asymmetricKeyType ?? 'unknown'}`);
  }
  return key;
}

/** Signs events with one publisher's private key. */
export class EventSigner {
  readonly keyId: string;
  readonly publicKey: KeyObject;
  private readonly privateKey: KeyObject;

  constructor(privateKeyPem: string | Buffer) {
    try {
      this.privateKey = createPrivateKey(privateKeyPem);
    } catch (err) {
      throw new EventKeyError(`not a private key: ${(err as Error).message}`, { cause: err });
    }
    if (this.privateKey.asymmetricKeyType !== SIGNATURE_ALG) {
      throw new EventKeyError(
        `the event signing key must be Ed25519, not ${this.privateKey.asymmetricKeyType ?? 'unknown'}`,
      );
    }
    this.publicKey = createPublicKey(this.privateKey);
    this.keyId = keyIdOf(this.publicKey);
  }

  /** The event with its signature (any signature it had is replaced). */
  sign<E extends FerryEvent>(event: E): E {
    const value = sign(null, signedBytes(event), this.privateKey).toString('base64url');
    return { ...event, sig: { alg: SIGNATURE_ALG, key: this.keyId, value } };
  }
}

/**
 * Whether `signature` (base64url text) is the signature of `event` under `publicKey`. The text must
 * be the canonical encoding of 64 bytes: a lenient decoder would take other strings for the same
 * bytes, and a signature is compared as what was written.
 */
export function signatureHolds(event: object, signature: string, publicKey: KeyObject): boolean {
  const bytes = Buffer.from(signature, 'base64url');
  if (bytes.length !== 64 || bytes.toString('base64url') !== signature) return false;
  return verify(null, signedBytes(event), publicKey, bytes);
}

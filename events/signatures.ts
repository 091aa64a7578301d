// Who wrote each event: its signature checked against the registered keys (infra/redis/event-keys.ts)
// before a reader takes it. A key signs only for its owner: a host's key only the events of that
// host, a controller's key only what a controller publishes (a migration's end) under a name that
// is not a host's. Anything else, and a signature that does not hold, is forged. With security on
// every event must be signed; with it off an unsigned event is taken, but a signature that is
// there is still checked (a forged signature is never better than none).
import type { KeyObject } from 'node:crypto';
import type { EventKey } from '../infra/redis/event-keys.ts';
import { eventPublicKey, SIGNATURE_ALG, signatureHolds } from '../protocol/event-signature.ts';
import type { EventType, FerryEvent } from '../protocol/events.ts';

/** What a controller publishes; everything else is some host's to sign. */
const CONTROLLER_EVENTS: ReadonlySet<EventType> = new Set(['migration.ended']);

export type Verdict = { ok: true } | { ok: false; kind: 'unsigned' | 'forged'; reason: string };

const OK: Verdict = { ok: true };

export class EventVerifier {
  private readonly publicKeys = new Map<string, KeyObject>();
  private readonly hostNames: ReadonlySet<string>;

  /**
   * @param keys the registered keys by id
   * @param required every event must be signed (security on)
   */
  constructor(
    private readonly keys: ReadonlyMap<string, EventKey>,
    readonly required: boolean,
  ) {
    this.hostNames = new Set([...keys.values()].filter((k) => k.role === 'host').map((k) => k.name));
  }

  get keyCount(): number {
    return this.keys.size;
  }

  /** `raw` is the event as parsed from JSON (every field, as signed); `event` its validated form. */
  check(raw: object, event: FerryEvent): Verdict {
    const sig = event.sig;
    if (!sig) {
      return this.required
        ? { ok: false, kind: 'unsigned', reason: 'it carries no signature, and security is on' }
        : OK;
    }
    if (sig.alg !== SIGNATURE_ALG) {
      return forged(`its signature is ${JSON.stringify(sig.alg)}, not ${SIGNATURE_ALG}`);
    }
    const owner = this.keys.get(sig.key);
    if (!owner)
      return forged(`it is signed with key ${JSON.stringify(sig.key)}, which no publisher registered`);
    const who = `${owner.role} ${owner.name}`;
    if (owner.role === 'host' && owner.name !== event.host) {
      return forged(`it is signed with the key of ${who} but claims host ${event.host}`);
    }
    if (owner.role === 'controller') {
      if (!CONTROLLER_EVENTS.has(event.type)) {
        return forged(`it is signed with the key of ${who}, and a controller does not publish ${event.type}`);
      }
      if (this.hostNames.has(event.host)) {
        return forged(`it is signed with the key of ${who} but claims host ${event.host}, a host's name`);
      }
    }
    if (!signatureHolds(raw, sig.value, this.publicKey(sig.key, owner))) {
      return forged(`its signature (key of ${who}) does not match its content: it was changed or made up`);
    }
    return OK;
  }

  private publicKey(id: string, owner: EventKey): KeyObject {
    let key = this.publicKeys.get(id);
    if (!key) this.publicKeys.set(id, (key = eventPublicKey(owner.publicKey)));
    return key;
  }
}

function forged(reason: string): Verdict {
  return { ok: false, kind: 'forged', reason };
}

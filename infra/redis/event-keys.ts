// The registry of event-signing keys: which publisher (a host or a controller) each Ed25519 key
// belongs to, by key id. It is written at enrolment, by whoever issues the identity (the operator,
// with the cluster CA), never by the publisher itself: a host that could register keys could
// register one under another host's name. The audit reads it to verify every event's signature.
// A key is never replaced: a publisher's older keys stay, so the events it signed before a new
// key still verify; a key id already registered to another identity is refused.
//
// One hash, `ferry:{event-keys}`: field = key id, value = JSON { role, name, publicKey, registeredAt }.
// Written by the operator's ACL user (or admin), never by an agent's or a controller's.
import { createHash, createPublicKey } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Redis } from 'ioredis';
import { z } from 'zod';
import { FerryError } from '../../errors/ferry-error.ts';
import type { Config } from '../config.ts';
import type { IdentityBundle } from '../pki/index.ts';
import { createRedis } from './client.ts';

/** The roles whose identities publish events. */
export const PUBLISHER_ROLES = ['host', 'controller'] as const;
export type PublisherRole = (typeof PUBLISHER_ROLES)[number];

export const EventKeySchema = z.object({
  role: z.enum(PUBLISHER_ROLES),
  name: z.string().min(1),
  /** SPKI PEM. */
  publicKey: z.string().startsWith('-----BEGIN PUBLIC KEY-----'),
  registeredAt: z.iso.datetime(),
});
export type EventKey = z.infer<typeof EventKeySchema>;

/** The public half of a bundle's event-signing key (the lead's infra/pki writes it there). */
export const SIGNING_PUB_FILE = 'signing.pub';

export class EventKeyRegistryError extends FerryError {
  readonly code = 'EVENT_KEY_REFUSED';
}

/** A key's id: the first 16 hex digits of the SHA-256 of its public key (SPKI DER). */
export function keyIdOfPem(publicKeyPem: string): string {
  const der = createPublicKey(publicKeyPem).export({ type: 'spki', format: 'der' });
  return createHash('sha256').update(der).digest('hex').slice(0, 16);
}

export class EventKeys {
  constructor(
    private readonly redis: Redis,
    private readonly prefix = 'ferry',
  ) {}

  get key(): string {
    return `${this.prefix}:{event-keys}`;
  }

  /**
   * Registers a publisher's public key; returns its id. Registering the same key for the same
   * publisher again changes nothing; the same key for another publisher is refused.
   */
  async register(owner: { role: PublisherRole; name: string; publicKeyPem: string }): Promise<string> {
    let publicKey;
    try {
      publicKey = createPublicKey(owner.publicKeyPem);
    } catch (err) {
      throw new EventKeyRegistryError(`the event key of ${owner.role} ${owner.name} is not a public key`, {
        cause: err,
      });
    }
    if (publicKey.asymmetricKeyType !== 'ed25519') {
      throw new EventKeyRegistryError(
        `the event key of ${owner.role} ${owner.name} is ${publicKey.asymmetricKeyType ?? 'unknown'}, not Ed25519`,
      );
    }
    const pem = publicKey.export({ type: 'spki', format: 'pem' }).toString();
    const id = keyIdOfPem(pem);
    const entry: EventKey = {
      role: owner.role,
      name: owner.name,
      publicKey: pem,
      registeredAt: new Date().toISOString(),
    };
    if (await this.redis.hsetnx(this.key, id, JSON.stringify(entry))) return id;
    const held = this.parse(await this.redis.hget(this.key, id));
    if (!held || held.role !== owner.role || held.name !== owner.name || held.publicKey !== pem) {
      throw new EventKeyRegistryError(
        `event key ${id} is already registered to ${held ? `${held.role} ${held.name}` : 'an unreadable entry'}, not ${owner.role} ${owner.name}`,
        { hint: 'issue the identity a key of its own; a signing key is never shared' },
      );
    }
    return id;
  }

  /** Every registered key by id; entries that do not parse are listed apart, not trusted. */
  async all(): Promise<{ keys: Map<string, EventKey>; unreadable: string[] }> {
    const raw = await this.redis.hgetall(this.key);
    const keys = new Map<string, EventKey>();
    const unreadable: string[] = [];
    for (const [id, value] of Object.entries(raw)) {
      const entry = this.parse(value);
      if (entry) keys.set(id, entry);
      else unreadable.push(id);
    }
    return { keys, unreadable };
  }

  /** Removes keys (a test's own, or a publisher retired for good: its events stop verifying). */
  async remove(ids: string[]): Promise<void> {
    if (ids.length > 0) await this.redis.hdel(this.key, ...ids);
  }

  private parse(value: string | null): EventKey | undefined {
    if (value === null) return undefined;
    try {
      const parsed = EventKeySchema.safeParse(JSON.parse(value));
      return parsed.success ? parsed.data : undefined;
    } catch {
      return undefined;
    }
  }
}

/**
 * Enrolment: registers the signing key of an identity bundle the caller has just issued (or
 * holds), read from `<dir>/signing.pub`. Called where identities are issued, with the CA.
 */
export async function enrolEventKey(
  keys: EventKeys,
  bundle: { role: string; name: string; dir: string },
): Promise<string | undefined> {
  if (bundle.role !== 'host' && bundle.role !== 'controller') return undefined;
  const path = join(bundle.dir, SIGNING_PUB_FILE);
  let pem: string;
  try {
    pem = readFileSync(path, 'utf8');
  } catch (err) {
    throw new EventKeyRegistryError(
      `the ${bundle.role} bundle ${bundle.dir} has no readable ${SIGNING_PUB_FILE}`,
      {
        cause: err,
        hint: `issue it again with \`ferry pki issue ${bundle.role} ${bundle.name}\``,
      },
    );
  }
  return keys.register({ role: bundle.role, name: bundle.name, publicKeyPem: pem });
}

/**
 * Enrols a bundle's event key in the cluster's registry, over a Redis connection of its own as
 * `as` (default: this process's identity; the operator's CLI, or the admin identity where the CA
 * is). What `ferry pki issue host|controller NAME` calls once it has issued the bundle.
 */
export async function enrolIdentityKey(
  cfg: Config,
  bundle: { role: string; name: string; dir: string },
  as?: IdentityBundle,
): Promise<string | undefined> {
  if (bundle.role !== 'host' && bundle.role !== 'controller') return undefined;
  const redis = createRedis(cfg, 'ferry-enrol', as ? { identity: as } : {});
  try {
    return await enrolEventKey(new EventKeys(redis), bundle);
  } finally {
    redis.disconnect();
  }
}

// Reading a cookie in a phase: signature, version, features, addressee, same-host check (all in
// protocol/cookie), then its nonce against Redis, so a cookie is good for one phase of one migration.
// A retry of the same phase on the same host may present it again.
import {
  cookieKeyId,
  formatCookie,
  parseCookie,
  type Cookie,
  type CookieInput,
  type CookiePhase,
} from '../../protocol/cookie/index.ts';
import { FerryError } from '../../errors/ferry-error.ts';
import type { PhaseDeps } from './deps.ts';

/** Longer than any cookie lives (5 min): a nonce outliving its cookie only crowds Redis's expiry. */
const NONCE_TTL_MS = 15 * 60_000;

export class CookieReplayedError extends FerryError {
  readonly code = 'COOKIE_REPLAYED';
}

export class CookieStaleError extends FerryError {
  readonly code = 'COOKIE_STALE';
}

export async function readCookie(
  deps: PhaseDeps,
  wire: string,
  expect: {
    migrationId: string;
    vm: string;
    phase: CookiePhase;
    reader: string;
    /**
     * Accept a cookie issued before Redis lost its data. Only for the source's Confirm finding its
     * job lost with the data: the signed cookie still binds this migration, VM, host and phase, and
     * what it allows (removing the paused copy the destination resumed) is idempotent.
     */
    acrossLoss?: boolean;
  },
): Promise<Cookie> {
  const keys = await deps.cookieKeys.keyring(cookieKeyId(wire));
  const cookie = parseCookie(wire, keys, {
    migrationId: expect.migrationId,
    vm: expect.vm,
    phase: expect.phase,
    to: deps.host,
    toUuid: deps.identity.uuid,
  });
  if (cookie.epoch === undefined) {
    // Without its epoch, a nonce cannot be checked across a loss of Redis's data.
    throw new CookieStaleError(
      `the ${expect.phase} cookie of migration ${expect.migrationId} from ${cookie.from.host} carries no Redis epoch`,
      { hint: `upgrade ferry on ${cookie.from.host}, then start a new migration` },
    );
  }
  const use = await deps.nonces.consume(
    cookie.nonce,
    `${expect.migrationId}:${expect.reader}@${deps.host}`,
    NONCE_TTL_MS,
    cookie.epoch,
  );
  if (use === 'stale' && !expect.acrossLoss) {
    throw new CookieStaleError(
      `the ${expect.phase} cookie of migration ${expect.migrationId} was issued before Redis lost its data; its nonce is forgotten, so it cannot be told from a replay`,
      { hint: 'start a new migration' },
    );
  }
  if (use === 'replayed') {
    throw new CookieReplayedError(
      `the ${expect.phase} cookie of migration ${expect.migrationId} was already used`,
      { hint: 'a cookie is good for one phase of one migration; start a new migration' },
    );
  }
  return cookie;
}

/**
 * A cookie from this host: signed with the cluster's current key, naming this host and its UUID as
 * issuer, in Redis's present epoch (mandatory: a reader that cannot check it must refuse it).
 */
export async function issueCookie(
  deps: PhaseDeps,
  cookie: Omit<CookieInput, 'from' | 'epoch'>,
): Promise<string> {
  const epoch = await deps.nonces.currentEpoch();
  return formatCookie(
    {
      ...cookie,
      from: { host: deps.host, uuid: deps.identity.uuid },
      epoch,
      mandatory: [...(cookie.mandatory ?? []), 'epoch'],
    },
    await deps.cookieKeys.keyring(),
  );
}

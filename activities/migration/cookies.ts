// Reading a cookie in a phase: signature, version, features, addressee, same-host check (all in
// hosts/cookie), then its nonce against Redis, so a cookie is good for one phase of one migration.
// A retry of the same phase on the same host may present it again.
import {
  formatCookie,
  parseCookie,
  type Cookie,
  type CookieInput,
  type CookiePhase,
} from '../../hosts/cookie/index.ts';
import { FerryError } from '../../errors/ferry-error.ts';
import type { PhaseDeps } from './deps.ts';

/** Longer than any cookie lives (5 min): a nonce outliving its cookie only crowds Redis's expiry. */
const NONCE_TTL_MS = 15 * 60_000;

export class CookieReplayedError extends FerryError {
  readonly code = 'COOKIE_REPLAYED';
}

export async function readCookie(
  deps: PhaseDeps,
  wire: string,
  expect: { migrationId: string; vm: string; phase: CookiePhase; reader: string },
): Promise<Cookie> {
  const cookie = parseCookie(wire, deps.clusterSecret, {
    migrationId: expect.migrationId,
    vm: expect.vm,
    phase: expect.phase,
    to: deps.host,
    toUuid: deps.identity.uuid,
  });
  const use = await deps.nonces.consume(
    cookie.nonce,
    `${expect.migrationId}:${expect.reader}@${deps.host}`,
    NONCE_TTL_MS,
  );
  if (use === 'replayed') {
    throw new CookieReplayedError(
      `the ${expect.phase} cookie of migration ${expect.migrationId} was already used`,
      { hint: 'a cookie is good for one phase of one migration; start a new migration' },
    );
  }
  return cookie;
}

/** A cookie from this host: signed with the cluster secret, naming this host and its UUID as issuer. */
export function issueCookie(deps: PhaseDeps, cookie: Omit<CookieInput, 'from'>): string {
  return formatCookie({ ...cookie, from: { host: deps.host, uuid: deps.identity.uuid } }, deps.clusterSecret);
}

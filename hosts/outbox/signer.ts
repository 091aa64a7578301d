// The signer of a publisher's outbox: with security on, the Ed25519 key of this process's identity
// (an agent's host bundle, a controller's), which the lead's infra/pki issues beside the
// certificate. Its public half must be in the registry for the audit to take the events: the
// operator enrols it when issuing the bundle (`ferry pki issue`); on the machine that holds the
// cluster CA (one-box clusters, where identities are issued at first use) the process enrols it
// itself, as the stack's admin: whoever can read the CA key could issue and enrol any identity
// anyway, so this gives a host there no power it did not have. A host elsewhere cannot.
import { readFileSync } from 'node:fs';
import type { Config } from '../../infra/config.ts';
import type { Logger } from '../../infra/logging/logger.ts';
import { adminIdentity, hasCaKey, processIdentity } from '../../infra/pki/index.ts';
import { enrolIdentityKey } from '../../infra/redis/event-keys.ts';
import { EventKeyError, EventSigner } from '../../protocol/event-signature.ts';

export async function outboxSigner(cfg: Config, log: Logger): Promise<EventSigner | undefined> {
  if (!cfg.security.enabled) return undefined;
  const bundle = processIdentity(cfg);
  if (!bundle.signingKeyPath) {
    throw new EventKeyError(
      `the identity ${bundle.role} ${bundle.name} (${bundle.dir}) has no event signing key: its events could not be signed`,
      { hint: `issue it again with \`ferry pki issue ${bundle.role} ${bundle.name}\`` },
    );
  }
  const signer = new EventSigner(readFileSync(bundle.signingKeyPath));
  if (hasCaKey(cfg)) {
    await enrolIdentityKey(cfg, bundle, adminIdentity(cfg));
    log.info('event key enrolled (this machine holds the cluster CA)', {
      identity: `${bundle.role}/${bundle.name}`,
      key: signer.keyId,
    });
  }
  return signer;
}

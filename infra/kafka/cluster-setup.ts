// What `ferry stack up` sets up inside Kafka once it answers, as the stack's admin: ferry's topics
// (the one place they are created) and, with security on, the ACLs. Idempotent: each `stack up`
// runs it, so a stack started by an older ferry gets the same.
import type { Config } from '../config.ts';
import { adminIdentity } from '../pki/index.ts';
import { createKafka } from './bus.ts';
import { applyAcls, operatorScratchAcls } from './acls.ts';
import { createLogger } from '../logging/logger.ts';
import { provisionTopics } from './topics.ts';

function adminClient(cfg: Config) {
  return createKafka(
    cfg,
    'ferry-stack',
    createLogger('ferry-stack', 'error', () => undefined),
    cfg.security.enabled ? adminIdentity(cfg) : undefined,
  ).admin();
}

export async function provisionKafkaCluster(cfg: Config, log: (line: string) => void): Promise<void> {
  const admin = adminClient(cfg);
  await admin.connect();
  try {
    await provisionTopics(admin, cfg, undefined, log);
    if (cfg.security.enabled) {
      const created = await applyAcls(admin);
      if (created > 0) log(`kafka: created ${created} ACLs (docs/kafka.md lists them)`);
    }
  } finally {
    await admin.disconnect();
  }
}

/**
 * With security on, lets the operator own every topic and group named `prefix...` (acls.ts,
 * operatorScratchAcls): the test harness's scratch topics. Off, there is nothing to grant.
 */
export async function grantOperatorScratch(cfg: Config, prefix: string): Promise<void> {
  if (!cfg.security.enabled) return;
  const admin = adminClient(cfg);
  await admin.connect();
  try {
    await applyAcls(admin, operatorScratchAcls(prefix));
  } finally {
    await admin.disconnect();
  }
}

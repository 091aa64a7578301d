// What `ferry stack up` sets up inside Kafka once it answers, as the stack's admin: ferry's topics
// (the one place they are created) and, with security on, the ACLs. Idempotent: each `stack up`
// runs it, so a stack started by an older ferry gets the same.
import type { Config } from '../config.ts';
import { adminIdentity } from '../pki/index.ts';
import { createKafka } from './bus.ts';
import { applyAcls } from './acls.ts';
import { createLogger } from '../logging/logger.ts';
import { provisionTopics } from './topics.ts';

export async function provisionKafkaCluster(cfg: Config, log: (line: string) => void): Promise<void> {
  const kafka = createKafka(
    cfg,
    'ferry-stack',
    createLogger('ferry-stack', 'error', () => undefined),
    cfg.security.enabled ? adminIdentity(cfg) : undefined,
  );
  const admin = kafka.admin();
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

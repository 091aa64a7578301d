// Integration tests use the real stack: the one `npm test` brought up (or that they bring up).
import { randomUUID } from 'node:crypto';
import { loadConfig, type Config } from '../infra/config.ts';
import { grantOperatorScratch } from '../infra/kafka/cluster-setup.ts';
import { stackUp } from '../infra/stack/stack.ts';

export async function realStack(): Promise<Config> {
  const cfg = loadConfig();
  await stackUp(cfg, () => undefined);
  // Tests make and drop topics and groups named test*: with security on, the operator they run as
  // (and the CLI they start) may, there alone; ferry's own topics keep their ACLs.
  await grantOperatorScratch(cfg, 'test');
  return cfg;
}

/** A name no other test (or earlier run) uses: topics, key prefixes, task queues. */
export function uniqueName(prefix: string): string {
  return `${prefix}-${randomUUID().slice(0, 8)}`;
}

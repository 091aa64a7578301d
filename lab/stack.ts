// Integration tests use the real stack: the one `npm test` brought up (or that they bring up).
import { randomUUID } from 'node:crypto';
import { loadConfig, type Config } from '../infra/config.ts';
import { stackUp } from '../infra/stack/stack.ts';

export async function realStack(): Promise<Config> {
  const cfg = loadConfig();
  await stackUp(cfg, () => undefined);
  return cfg;
}

/** A name no other test (or earlier run) uses: topics, key prefixes, task queues. */
export function uniqueName(prefix: string): string {
  return `${prefix}-${randomUUID().slice(0, 8)}`;
}

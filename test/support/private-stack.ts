// A stack of one test file's own: a fresh state dir and free loopback ports, with the configured
// cache dir (Temporal's binary and Kafka's jars are there, so nothing is downloaded). A file that
// stops or wipes services does it to this stack, never to the one every other file shares.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig, type Config } from '../../infra/config.ts';
import { ferryWithEnv, type CliResult } from '../../lab/cli.ts';
import { freePorts } from '../../infra/process/port.ts';

export interface PrivateStack {
  /** FERRY_STATE_DIR, the six ports and FERRY_CACHE_DIR: what points ferry at this stack. */
  env: Record<string, string>;
  cfg: Config;
  /** `ferry ...` run against this stack (killed after 4 minutes, which it says). */
  ferry(...args: string[]): Promise<CliResult>;
  /**
   * `ferry stack down`, then the temp dir removed. If down fails the dir is kept (its pid files
   * are all that names what may still run) and the error says where it is.
   */
  dispose(): Promise<void>;
}

/** Does not start anything: the caller runs `stack up` (and asserts what it reports). */
export async function privateStack(prefix: string): Promise<PrivateStack> {
  const root = mkdtempSync(join(tmpdir(), `ferry-${prefix}-`));
  const configured = loadConfig();
  // The sixth is the dev server's own behind its TLS front (security on), which binds 127.0.0.1.
  const [temporal, temporalUi, kafka, kafkaController, redis, temporalBackend] = await freePorts(
    configured.bindHost,
    6,
  );
  const env = {
    // Under root, not root itself: `stack reset` removes the state dir, and the test checks that.
    FERRY_STATE_DIR: join(root, 'state'),
    FERRY_CACHE_DIR: configured.cacheDir,
    FERRY_TEMPORAL_PORT: String(temporal),
    FERRY_TEMPORAL_UI_PORT: String(temporalUi),
    FERRY_TEMPORAL_BACKEND_PORT: String(temporalBackend),
    FERRY_KAFKA_PORT: String(kafka),
    FERRY_KAFKA_CONTROLLER_PORT: String(kafkaController),
    FERRY_REDIS_PORT: String(redis),
  };
  const ferry = (...args: string[]) => ferryWithEnv(env, 240_000, ...args);
  return {
    env,
    cfg: loadConfig({ ...process.env, ...env }),
    ferry,
    async dispose() {
      const down = await ferry('stack', 'down');
      if (down.status !== 0) {
        throw new Error(
          `stack down of the private stack in ${root} failed (exit ${down.status}), dir kept: ${down.stderr}`,
        );
      }
      rmSync(root, { recursive: true, force: true });
    },
  };
}

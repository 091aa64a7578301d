// A lab of its own for a test or a bench: a fresh state dir under `root` and free ports for every
// service (the configured cache dir kept, so nothing is downloaded), so a lab never meets the
// stack other work shares. The ports are free on loopback when drawn; the lab's services bind the
// bridge's address, the dev server and its codec loopback.
import { join } from 'node:path';
import { loadConfig } from '../infra/config.ts';
import { freePorts } from '../infra/process/port.ts';

export async function privateLabEnv(root: string): Promise<Record<string, string>> {
  const configured = loadConfig({ ...process.env, FERRY_BIND_HOST: undefined });
  const [temporal, ui, backend, codec, kafka, controller, redis] = await freePorts('127.0.0.1', 7);
  return {
    FERRY_STATE_DIR: join(root, 'state'),
    FERRY_CACHE_DIR: configured.cacheDir,
    FERRY_TEMPORAL_PORT: String(temporal),
    FERRY_TEMPORAL_UI_PORT: String(ui),
    FERRY_TEMPORAL_BACKEND_PORT: String(backend),
    FERRY_CODEC_PORT: String(codec),
    FERRY_KAFKA_PORT: String(kafka),
    FERRY_KAFKA_CONTROLLER_PORT: String(controller),
    FERRY_REDIS_PORT: String(redis),
  };
}

import { Client, Connection } from '@temporalio/client';
import type { Config } from '../config.ts';

// The worker's NativeConnection lives in connect-worker.ts: @temporalio/worker takes ~0.6 s to
// load, and a CLI command that is only a client must not pay for it.
export async function connectClient(cfg: Config): Promise<Client> {
  const connection = await Connection.connect({ address: cfg.temporal.address });
  return new Client({ connection, namespace: cfg.temporal.namespace });
}

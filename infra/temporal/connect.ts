import { Client, Connection } from '@temporalio/client';
import type { Config } from '../config.ts';
import { dataConverter } from './data-converter.ts';
import { temporalTls } from './tls.ts';

// The worker's NativeConnection lives in connect-worker.ts: @temporalio/worker takes ~0.6 s to
// load, and a CLI command that is only a client must not pay for it.
export async function connectClient(cfg: Config): Promise<Client> {
  const converter = dataConverter(cfg);
  return new Client({
    connection: await connectTemporal(cfg),
    namespace: cfg.temporal.namespace,
    ...(converter ? { dataConverter: converter } : {}),
  });
}

/** A client connection as this process's identity (mTLS through the front when security is on). */
export function connectTemporal(cfg: Config): Promise<Connection> {
  const tls = temporalTls(cfg);
  return Connection.connect({ address: cfg.temporal.address, ...(tls ? { tls } : {}) });
}

import { Client, Connection } from '@temporalio/client';
import type { Config } from '../config.ts';
import { dataConverter } from './data-converter.ts';
import { TemporalUnreachableError } from './errors.ts';
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
export async function connectTemporal(cfg: Config): Promise<Connection> {
  const tls = temporalTls(cfg);
  try {
    return await Connection.connect({ address: cfg.temporal.address, ...(tls ? { tls } : {}) });
  } catch (err) {
    // A server that is down, or a TLS front met by a plaintext client (FERRY_SECURITY differs):
    // the operator's to fix, so one line, not grpc-js's stack.
    throw new TemporalUnreachableError(
      `Temporal at ${cfg.temporal.address} did not answer (${(err as Error).message})`,
      {
        cause: err,
        hint: 'check `ferry stack status`, and that FERRY_SECURITY and FERRY_TEMPORAL_ADDRESS are the ones the stack runs with',
      },
    );
  }
}

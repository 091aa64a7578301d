import { NativeConnection } from '@temporalio/worker';
import type { Config } from '../config.ts';
import { temporalTls } from './tls.ts';

export function connectWorker(cfg: Config): Promise<NativeConnection> {
  const tls = temporalTls(cfg);
  return NativeConnection.connect({ address: cfg.temporal.address, ...(tls ? { tls } : {}) });
}

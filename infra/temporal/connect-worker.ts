import { NativeConnection } from '@temporalio/worker';
import type { Config } from '../config.ts';

export function connectWorker(cfg: Config): Promise<NativeConnection> {
  return NativeConnection.connect({ address: cfg.temporal.address });
}

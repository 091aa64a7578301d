// A DrillTarget for tests that inject link, stream or Redis faults through the Fault interface
// without the drill runner: the hosts are the test's own, and killing or starting processes is not
// part of those faults (asking for it is a test bug, said as such).
import type { Redis } from 'ioredis';
import type { DrillTarget } from '../../drills/fault.ts';
import type { Config } from '../../infra/config.ts';
import { createLogger } from '../../infra/logging/logger.ts';

export function faultTarget(
  who: string,
  base: { cfg: Config; redis: Redis; source: string; destination: string },
  vm: string,
  migrationId: string,
): DrillTarget {
  const no = () => Promise.reject(new Error(`not part of ${who}`));
  return {
    ...base,
    log: createLogger(who, 'error'),
    vm,
    migrationId,
    killAgent: no,
    startAgent: no,
    killController: no,
    startController: no,
  };
}

// Where the drills' faults and agent links come from besides the faults of drills/. Every drill
// agent starts through its host's links (drills/links.ts: its Redis and Temporal through proxies
// the drill holds, its data plane behind a third), so the network and stream faults act on
// exactly that host. The catalog takes these faults as a list: the stream cut at an offset, one
// byte of it flipped, a slow link, each host partitioned for longer than the leases, and Redis
// with its data lost — the last only against a Redis of the drill's own (FERRY_REDIS_PORT other
// than the default), since it wipes everyone's jobs and leases on a shared stack.
import { DEFAULT_REDIS_PORT, type Config } from '../infra/config.ts';
import type { LinksProvider } from './cluster.ts';
import type { DrillFault } from './catalog.ts';
import { openHostLinks } from './links.ts';
import { partitionFaults } from './partition.ts';
import { redisDataLoss } from './redis-loss.ts';
import { slowLink, streamCorrupt, streamCut } from './stream-faults.ts';

const MiB = 1024 * 1024;
/** Where the stream cut fires: within the first 12 MiB, which every drill's stream carries. */
const STREAM_RANGE = { min: 1 * MiB, max: 12 * MiB };

export interface DrillSources {
  faults: DrillFault[];
  linksProvider?: LinksProvider;
}

export async function drillSources(cfg: Config): Promise<DrillSources> {
  const inStream = ['perform'] as const;
  const faults: DrillFault[] = [
    { ...streamCut({ seed: 1, range: STREAM_RANGE }), phases: inStream },
    { ...streamCorrupt({ seed: 2 }), phases: inStream },
    { ...slowLink(), phases: inStream },
    ...partitionFaults(),
  ];
  if (cfg.redis.port !== DEFAULT_REDIS_PORT) faults.push(redisDataLoss());
  return Promise.resolve({ faults, linksProvider: (c, address) => openHostLinks(c, address) });
}

// Where the drills' faults and agent links come from besides the faults of drills/. Every drill
// agent starts through its host's links (drills/links.ts: its Redis and Temporal through proxies
// the drill holds, its data plane behind a third), so the network and stream faults can act on
// exactly that host. The catalog takes its extra faults (stream cut/corrupt/slow, partition,
// Redis data loss) from `faults`.
import type { LinksProvider } from './cluster.ts';
import type { Fault } from './fault.ts';
import { openHostLinks } from './links.ts';

export interface DrillSources {
  faults: Fault[];
  linksProvider?: LinksProvider;
}

export async function drillSources(): Promise<DrillSources> {
  return Promise.resolve({ faults: [], linksProvider: (cfg, address) => openHostLinks(cfg, address) });
}

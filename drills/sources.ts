// Where the drills' faults and agent links come from besides the faults of drills/. The network
// and stream faults (drills/links.ts: stream cut/corrupt/slow, partition, Redis data loss) and
// the links that route an agent's traffic through drill-held proxies join here: the catalog takes
// its extra faults from `faults`, and every drill agent starts through `linksProvider`.
import type { LinksProvider } from './cluster.ts';
import type { Fault } from './fault.ts';

export interface DrillSources {
  faults: Fault[];
  linksProvider?: LinksProvider;
}

export async function drillSources(): Promise<DrillSources> {
  return Promise.resolve({ faults: [] });
}

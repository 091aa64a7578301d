// The cluster as the controller sees it when it places guests: each registered host (up or down),
// its drain mark, and its migration slots and promised memory. Read by the cluster activities and
// by `ferry status`.
import type { HostRegistry } from '../hosts/agent/registration.ts';
import type { DrainMarks } from '../infra/redis/draining.ts';
import type { MigrationSlots } from '../infra/redis/migration-slots.ts';
import type { HostView } from '../protocol/cluster.ts';

/** The stores the view is read from. */
export interface ClusterStores {
  registry: HostRegistry;
  drainMarks: DrainMarks;
  slots: MigrationSlots;
}

/** Every registered host, or only `only` (unknown names come back as down). */
export async function readClusterView(stores: ClusterStores, only?: string[]): Promise<HostView[]> {
  const { registry, drainMarks, slots } = stores;
  const registered = await registry.list();
  const hosts = only
    ? only.map((name) => registered.find((h) => h.name === name) ?? { name, up: false })
    : registered;
  const names = hosts.map((h) => h.name);
  const [marks, load] = await Promise.all([drainMarks.many(names), slots.load(names)]);
  return hosts.map((h) => {
    const reg = h.registration;
    const l = load.get(h.name) ?? { inbound: 0, outbound: 0, promisedMiB: 0 };
    return {
      name: h.name,
      up: h.up,
      draining: marks.get(h.name)?.by ?? null,
      memoryMiB: reg?.memoryMiB ?? 0,
      usedMiB: reg?.usedMiB ?? 0,
      guests: reg?.guests ?? 0,
      ...l,
    };
  });
}

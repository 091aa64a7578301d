// What `npm start` builds and does, as data: four hosts, a dozen emulated guests (and one real
// QEMU guest where QEMU is installed), the few migrations it runs, the host it drains. Names are
// fixed (under a prefix) so that a second `npm start` finds the same cluster and tidies it first.
import { z } from 'zod';
import { HostNameSchema } from '../protocol/names.ts';

export const DemoOptionsSchema = z.object({
  prefix: HostNameSchema.refine((p) => p.length <= 20, 'the prefix is at most 20 characters'),
  address: z
    .string()
    .regex(
      /^127\.\d{1,3}\.\d{1,3}\.(\d{1,3})$/,
      'the first address must be a loopback address (127.x.y.z); the demo uses it and the next three',
    )
    .refine((a) => Number(a.split('.')[3]) <= 250, 'the first address must leave room for three more'),
  qemu: z.boolean(),
});
export type DemoOptions = z.infer<typeof DemoOptionsSchema>;

export interface DemoHost {
  name: string;
  address: string;
  memoryMiB: number;
}

export interface DemoGuest {
  vm: string;
  host: string;
  memoryMiB: number;
  dirtyPagesPerSecond: number;
  kind: 'emulated' | 'qemu';
}

export interface DemoPlan {
  hosts: DemoHost[];
  guests: DemoGuest[];
  /** Run side by side before the drain, each with its own bar. */
  migrations: { vm: string; to: string }[];
  /** The host emptied while the user watches; it keeps its drain mark afterwards. */
  drain: string;
}

export function demoPlan(o: DemoOptions): DemoPlan {
  const [a, b, c, last] = o.address.split('.').map(Number) as [number, number, number, number];
  const hosts = [1, 2, 3, 4].map((i) => ({
    name: `${o.prefix}-${i}`,
    address: `${a}.${b}.${c}.${last + i - 1}`,
    memoryMiB: 1024,
  }));
  const [h1, h2, h3, h4] = hosts.map((h) => h.name) as [string, string, string, string];
  const guest = (vm: string, host: string, memoryMiB: number, dirty: number): DemoGuest => ({
    vm: `${o.prefix}-${vm}`,
    host,
    memoryMiB,
    dirtyPagesPerSecond: dirty,
    kind: 'emulated',
  });
  const guests = [
    // The host to drain: six web servers, some busy, so that precopy takes a few passes.
    ...[48, 64, 96, 48, 64, 96].map((mib, i) => guest(`web-${i + 1}`, h1, mib, (i % 3) * 800)),
    ...[64, 64, 96].map((mib, i) => guest(`db-${i + 1}`, h2, mib, 400 + i * 300)),
    ...[32, 32, 48].map((mib, i) => guest(`cache-${i + 1}`, h3, mib, 1500)),
  ];
  const migrations = [
    { vm: `${o.prefix}-db-1`, to: h4 },
    { vm: `${o.prefix}-cache-1`, to: h4 },
  ];
  if (o.qemu) {
    guests.push({ vm: `${o.prefix}-qemu-1`, host: h2, memoryMiB: 64, dirtyPagesPerSecond: 0, kind: 'qemu' });
    migrations.push({ vm: `${o.prefix}-qemu-1`, to: h3 });
  } else {
    migrations.push({ vm: `${o.prefix}-db-2`, to: h3 });
  }
  return { hosts, guests, migrations, drain: h1 };
}

// `ferry status [--json] [--once]`: the cluster now. Hosts (up or down, draining, memory load,
// migrations in and out), guests (where, QEMU run state, the migration job holding them) and the
// migrations in flight with their progress, plus the drains and rebalances running. In a terminal
// the migrations' bars keep updating until none is left (Ctrl-C stops watching, nothing else).
//
// Everything but the migrations' progress is read from Redis: hosts from their registrations,
// guests from the lists the agents publish with each heartbeat and each guest change. A host that
// is down (stopped or crashed, with guests that outlive its agent) shows with when it was last
// seen and the guests it ran then, as last seen. Temporal's
// client (~0.4 s to load, plus a workflow per host to ask each agent) is loaded only when Redis
// shows a migration or a drain to ask it about, so an idle cluster's status answers at once.
import type { Client } from '@temporalio/client';
import type { Command } from 'commander';
import type { Redis } from 'ioredis';
import { readClusterView } from '../activities/cluster-view.ts';
import { CONTROL_TASK_QUEUE, slotsPrefix } from '../workers/controller/queue.ts';
import type { HostGuest } from '../hosts/agent/host-guest.ts';
import { HostRegistry, type HostLastSeen } from '../hosts/agent/registration.ts';
import { DrainMarks } from '../infra/redis/draining.ts';
import { allPlacements } from '../infra/redis/placement-scan.ts';
import { loadConfig, type Config } from '../infra/config.ts';
import { createRedis } from '../infra/redis/client.ts';
import { JobStore, type JobRecord } from '../infra/redis/jobs.ts';
import { MigrationSlots } from '../infra/redis/migration-slots.ts';
import { loadPct } from '../protocol/placement.ts';
import type { HostView } from '../protocol/cluster.ts';
import type { MigrationProgressView } from '../protocol/migration.ts';
import type { BarLine } from './migration-bars.ts';

const REFRESH_MS = 1000;

export interface StatusGuest {
  vm: string;
  host: string;
  /**
   * QEMU's run state as the agent says; when its agent is gone, `unknown (host down; last seen
   * STATE)` for a guest of its last-known list, `unknown (host down)` for one only its placement names.
   */
  state: string;
  kind: string | null;
  memoryMiB: number | null;
  job: { type: string; phase: string; migrationId: string; peer: string } | null;
  /** When the line comes from a down host's last-known list: when the host was last seen; else null. */
  lastSeenAt: string | null;
}

export interface StatusMigration {
  migrationId: string;
  vm: string;
  source: string;
  destination: string;
  phase: string | null;
  state: string;
  transferred: number | null;
  remaining: number | null;
  passes: number | null;
}

export interface ClusterStatus {
  /** `lastSeenAt`: for a host that is down, when it was last seen (null if never, and when up). */
  hosts: (HostView & { loadPct: number; lastSeenAt: string | null })[];
  guests: StatusGuest[];
  migrations: StatusMigration[];
  operations: { id: string; type: string }[];
}

export function registerStatus(program: Command): void {
  program
    .command('status')
    .option('--json', 'print one JSON object: {"hosts", "guests", "migrations", "operations"}')
    .option('--once', 'print the state and return, without following the migrations in flight')
    .description('hosts, guests and migrations in flight, with progress bars that update')
    .action(async (opts: { json?: boolean; once?: boolean }) => {
      const cfg = loadConfig();
      const redis = createRedis(cfg, 'ferry-cli');
      const temporal = lazyClient(cfg);
      try {
        const status = await readStatus(redis, temporal.get);
        if (opts.json) {
          console.log(JSON.stringify(status));
          return;
        }
        console.log(formatStatus(status));
        if (!opts.once && process.stderr.isTTY && status.migrations.length > 0)
          await follow(redis, await temporal.get());
      } finally {
        redis.disconnect();
        await temporal.close();
      }
    });
}

/** Temporal's client, connected on first use only. */
function lazyClient(cfg: Config): { get: () => Promise<Client>; close: () => Promise<void> } {
  let client: Promise<Client> | undefined;
  return {
    get: () =>
      (client ??= import('../infra/temporal/connect.ts').then(({ connectClient }) => connectClient(cfg))),
    close: async () => {
      if (client) await (await client).connection.close();
    },
  };
}

export async function readStatus(redis: Redis, temporal: () => Promise<Client>): Promise<ClusterStatus> {
  const slots = new MigrationSlots(redis, slotsPrefix(CONTROL_TASK_QUEUE));
  const hosts = await readClusterView({
    registry: new HostRegistry(redis),
    drainMarks: new DrainMarks(redis),
    slots,
  });
  const jobs = new JobStore(redis);
  const registry = new HostRegistry(redis);
  const [listed, lastSeen, jobsByHost, placements, holders] = await Promise.all([
    Promise.all(hosts.map((h) => (h.up ? registry.guests(h.name) : Promise.resolve(undefined)))),
    Promise.all(hosts.map((h) => (h.up ? Promise.resolve(undefined) : registry.lastSeen(h.name)))),
    Promise.all(hosts.map((h) => jobs.listForHost(h.name))),
    allPlacements(redis),
    slots.holders(),
  ]);
  const jobOf = new Map<string, JobRecord>();
  for (const j of jobsByHost.flat()) jobOf.set(`${j.host}/${j.vm}`, j);
  const guests: StatusGuest[] = [];
  hosts.forEach((h, i) => {
    const here = listed[i];
    if (here) {
      for (const g of here) guests.push(guestLine(h.name, g, jobOf.get(`${h.name}/${g.vm}`)));
      return;
    }
    // Its agent is down: the guests it ran when last seen, unless their placement has moved on.
    const last = lastSeen[i];
    const shown = new Set<string>();
    for (const g of last?.guests ?? []) {
      const placed = placements.get(g.vm);
      if (placed !== undefined && placed !== h.name) continue;
      guests.push(lastSeenLine(h.name, g, last!, jobOf.get(`${h.name}/${g.vm}`)));
      shown.add(g.vm);
    }
    // And what the placements say runs there that it did not list (or its agent published nothing).
    for (const [vm, host] of placements) {
      if (host !== h.name || shown.has(vm)) continue;
      const state = h.up ? 'unknown (its agent published no guest list)' : 'unknown (host down)';
      guests.push({
        vm,
        host,
        state,
        kind: null,
        memoryMiB: null,
        job: jobView(jobOf.get(`${host}/${vm}`)),
        lastSeenAt: null,
      });
    }
  });
  guests.sort((a, b) => (a.vm < b.vm ? -1 : a.vm > b.vm ? 1 : a.host < b.host ? -1 : 1));
  const migrationIds = new Set([
    ...jobsByHost
      .flat()
      .filter((j) => j.job === 'MIGRATION_OUT')
      .map((j) => j.owner),
    ...holders.map((h) => h.migrationId),
  ]);
  // A drain or rebalance shows in Redis as a draining host or a held migration slot; with neither
  // (and no migration), there is nothing to ask Temporal about. A rebalance between two moves,
  // holding no slot for those milliseconds, is not listed.
  const busy = migrationIds.size > 0 || hosts.some((h) => h.draining !== null);
  const client = busy ? await temporal() : undefined;
  const [migrations, operations] = client
    ? await Promise.all([
        Promise.all([...migrationIds].map((id) => queryMigration(client, id))).then((ms) =>
          ms.filter((m): m is StatusMigration => m !== undefined),
        ),
        runningOperations(client),
      ])
    : [[], []];
  return {
    hosts: hosts.map((h, i) => ({
      ...h,
      loadPct: h.up ? Math.round(loadPct(h) * 10) / 10 : 0,
      lastSeenAt: lastSeen[i]?.seenAt ?? null,
    })),
    guests,
    migrations,
    operations,
  };
}

function guestLine(host: string, g: HostGuest, job: JobRecord | undefined): StatusGuest {
  return {
    vm: g.vm,
    host,
    state: g.incoming ? `incoming (${g.status})` : g.status,
    kind: g.kind,
    memoryMiB: g.memoryMiB,
    job: jobView(job),
    lastSeenAt: null,
  };
}

/** A guest of a down host, as its agent last listed it. */
function lastSeenLine(
  host: string,
  g: HostGuest,
  last: HostLastSeen,
  job: JobRecord | undefined,
): StatusGuest {
  const was = g.incoming ? `incoming (${g.status})` : g.status;
  return {
    vm: g.vm,
    host,
    state: `unknown (host down; last seen ${was})`,
    kind: g.kind,
    memoryMiB: g.memoryMiB,
    job: jobView(job),
    lastSeenAt: last.seenAt,
  };
}

const jobView = (j: JobRecord | undefined): StatusGuest['job'] =>
  j ? { type: j.job, phase: j.phase, migrationId: j.owner, peer: j.peer } : null;

async function queryMigration(client: Client, id: string): Promise<StatusMigration | undefined> {
  const { progress } = await import('../workflows/migration/messages.ts');
  const p = await client.workflow
    .getHandle(id)
    .query(progress)
    .catch(() => undefined);
  return p && p.state !== 'done' ? migrationLine(p) : undefined;
}

function migrationLine(p: MigrationProgressView): StatusMigration {
  return {
    migrationId: p.migrationId,
    vm: p.vm,
    source: p.source,
    destination: p.destination,
    phase: p.phase,
    state: p.state,
    transferred: p.transfer?.transferred ?? null,
    remaining: p.transfer?.remaining ?? null,
    passes: p.transfer?.passes ?? null,
  };
}

async function runningOperations(client: Client): Promise<{ id: string; type: string }[]> {
  const ops: { id: string; type: string }[] = [];
  try {
    const query = `WorkflowType IN ('drain', 'rebalance') AND ExecutionStatus = 'Running'`;
    for await (const w of client.workflow.list({ query })) ops.push({ id: w.workflowId, type: w.type });
  } catch {
    // Visibility can lag or be unavailable; the drain marks still show on the hosts.
  }
  return ops;
}

const table = (rows: string[][]): string[] => {
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => (r[c] ?? '').length)));
  return rows.map(
    (r) =>
      '  ' +
      r
        .map((cell, c) => cell.padEnd(widths[c]!))
        .join('  ')
        .trimEnd(),
  );
};

export function formatStatus(s: ClusterStatus): string {
  const out: string[] = [];
  const up = s.hosts.filter((h) => h.up).length;
  out.push(
    `hosts: ${up} up, ${s.hosts.length - up} down, ${s.hosts.filter((h) => h.draining).length} draining`,
  );
  out.push(
    ...table([
      ['HOST', 'STATE', 'DRAINING', 'MEMORY MiB (used/total)', 'LOAD', 'GUESTS', 'IN', 'OUT'],
      ...s.hosts.map((h) => [
        h.name,
        h.up
          ? 'up'
          : h.lastSeenAt
            ? `down (last seen ${h.lastSeenAt.slice(0, 19).replace('T', ' ')} UTC)`
            : 'down',
        h.draining ?? '-',
        h.up ? `${h.usedMiB}/${h.memoryMiB}${h.promisedMiB ? ` (+${h.promisedMiB} promised)` : ''}` : '-',
        h.up ? `${h.loadPct.toFixed(0)}%` : '-',
        h.up ? String(h.guests) : '-',
        String(h.inbound),
        String(h.outbound),
      ]),
    ]),
  );
  out.push(`guests: ${s.guests.length}`);
  if (s.guests.length > 0) {
    out.push(
      ...table([
        ['VM', 'HOST', 'STATE', 'KIND', 'MiB', 'JOB'],
        ...s.guests.map((g) => [
          g.vm,
          g.host,
          g.state,
          g.kind ?? '-',
          g.memoryMiB === null ? '-' : String(g.memoryMiB),
          g.job ? `${g.job.type} ${g.job.phase} (${g.job.migrationId}, peer ${g.job.peer})` : '-',
        ]),
      ]),
    );
  }
  out.push(`migrations in flight: ${s.migrations.length}`);
  for (const m of s.migrations) {
    const t =
      m.transferred === null
        ? ''
        : `, ${(m.transferred / 1048576).toFixed(1)} MiB sent, ${((m.remaining ?? 0) / 1048576).toFixed(1)} MiB left, pass ${m.passes}`;
    out.push(
      `  ${m.migrationId}: ${m.vm} ${m.source} → ${m.destination}, ${m.state} in ${m.phase ?? '-'}${t}`,
    );
  }
  if (s.operations.length > 0) {
    out.push(`operations running: ${s.operations.map((o) => `${o.type} ${o.id}`).join(', ')}`);
  }
  return out.join('\n');
}

/** Bars for the migrations in flight, refreshed each second, new ones joining, until none is left. */
async function follow(redis: Redis, client: Client): Promise<void> {
  const [{ MigrationBars }, { progress }] = await Promise.all([
    import('./migration-bars.ts'),
    import('../workflows/migration/messages.ts'),
  ]);
  const bars = new MigrationBars(process.stderr);
  let stop = false;
  const onInterrupt = () => (stop = true);
  process.on('SIGINT', onInterrupt);
  const slots = new MigrationSlots(redis, slotsPrefix(CONTROL_TASK_QUEUE));
  const jobs = new JobStore(redis);
  const registry = await readClusterView({
    registry: new HostRegistry(redis),
    drainMarks: new DrainMarks(redis),
    slots,
  });
  try {
    while (!stop) {
      const ids = new Set([
        ...(await Promise.all(registry.map((h) => jobs.listForHost(h.name))))
          .flat()
          .filter((j) => j.job === 'MIGRATION_OUT')
          .map((j) => j.owner),
        ...(await slots.holders()).map((h) => h.migrationId),
      ]);
      const lines = new Map<string, BarLine>();
      await Promise.all(
        [...ids].map(async (id) => {
          const p = await client.workflow
            .getHandle(id)
            .query(progress)
            .catch(() => null);
          if (p && p.state !== 'done')
            lines.set(id, { label: `${p.vm} ${p.source} → ${p.destination}`, progress: p });
        }),
      );
      bars.sync(lines);
      if (lines.size === 0) break;
      await new Promise((r) => setTimeout(r, REFRESH_MS));
    }
  } finally {
    process.off('SIGINT', onInterrupt);
    bars.stop();
  }
}

// `ferry migrate VM --to HOST [--max-downtime MS] [--bandwidth MIBPS] [--json]`: runs the v3
// migration workflow on the controller and follows it; Ctrl-C aborts it (as virsh migrate does)
// and waits for the rollback. `ferry migration info|abort|set ID` act on one already running.
import { randomUUID } from 'node:crypto';
import type { Command } from 'commander';
import { z } from 'zod';
import { ensureController } from '../workers/controller/daemon.ts';
import { VmNameSchema } from '../protocol/events.ts';
import { HostNameSchema } from '../protocol/names.ts';
import { loadConfig } from '../infra/config.ts';
import { createRedis } from '../infra/redis/client.ts';
import { connectClient } from '../infra/temporal/connect.ts';
import { progress, setBandwidth, setMaxDowntime } from '../workflows/migration/messages.ts';
import type { MigrationReport } from '../protocol/migration.ts';
import { onMigration, resolveMigration, startMigration } from './migration-client.ts';
import { followMigration } from './migration-progress.ts';
import { jsonFlag, printResult } from './output.ts';
import { BandwidthOptionSchema } from '../protocol/bandwidth.ts';

const MigrateOptions = z.object({
  vm: VmNameSchema,
  to: HostNameSchema,
  maxDowntimeMs: z.coerce.number().int().min(1, 'the downtime limit is at least 1 ms').optional(),
  bandwidthMiBps: BandwidthOptionSchema.optional(),
});

const SetOptions = z
  .object({
    maxDowntimeMs: z.coerce.number().int().min(1).optional(),
    bandwidthMiBps: BandwidthOptionSchema.optional(),
  })
  .refine((o) => o.maxDowntimeMs !== undefined || o.bandwidthMiBps !== undefined, {
    message: 'give --max-downtime or --bandwidth',
  });

/** Exit statuses: the migration happened (0), it was rolled back (3), the outcome needs a human (4). */
const EXIT = { completed: 0, 'rolled-back': 3, failed: 4 } as const;

export function registerMigrate(program: Command): void {
  program
    .command('migrate')
    .argument('<vm>', 'VM name')
    .requiredOption('--to <host>', 'destination host')
    .option('--max-downtime <ms>', 'longest the guest may be paused at the switchover')
    .option('--bandwidth <mibps>', 'bandwidth limit of the stream in MiB/s')
    .option('--json', 'print one JSON object when the migration ends')
    .description(
      'live-migrate a VM to another host (libvirt migration v3: begin, prepare, perform, finish, confirm)',
    )
    .action(
      async (vm: string, opts: { to: string; maxDowntime?: string; bandwidth?: string; json?: boolean }) => {
        const o = MigrateOptions.parse({
          vm,
          to: opts.to,
          maxDowntimeMs: opts.maxDowntime,
          bandwidthMiBps: opts.bandwidth,
        });
        const cfg = loadConfig();
        const redis = createRedis(cfg, 'ferry-cli');
        let source: string;
        try {
          ({ source } = await resolveMigration(redis, o.vm, o.to));
        } finally {
          redis.disconnect();
        }
        const controller = await ensureController(cfg);
        if (controller.started && !opts.json)
          console.error(`started the controller (pid ${controller.pid}, log ${controller.log})`);
        const client = await connectClient(cfg);
        try {
          const migrationId = `m-${o.vm}-${randomUUID().slice(0, 8)}`;
          const handle = await startMigration(client, migrationId, {
            vm: o.vm,
            source,
            destination: o.to,
            ...(o.maxDowntimeMs !== undefined ? { maxDowntimeMs: o.maxDowntimeMs } : {}),
            ...(o.bandwidthMiBps !== undefined ? { bandwidthMiBps: o.bandwidthMiBps } : {}),
          });
          if (!opts.json)
            console.error(`migration ${migrationId}: ${o.vm} from ${source} to ${o.to} (Ctrl-C aborts)`);
          const onInterrupt = () => {
            if (!opts.json) console.error('\naborting: the migration rolls back…');
            void handle.cancel().catch(() => undefined);
          };
          process.on('SIGINT', onInterrupt);
          const report = await followMigration(handle, { bars: !opts.json && process.stderr.isTTY });
          process.off('SIGINT', onInterrupt);
          if (opts.json) console.log(JSON.stringify(report));
          else console.log(describeReport(report));
          process.exitCode = EXIT[report.outcome];
        } finally {
          await client.connection.close();
        }
      },
    );

  const migration = program.command('migration').description('query, tune or abort a running migration');
  migration
    .command('info')
    .argument('<id>', 'migration id (printed by ferry migrate)')
    .option('--json', 'print the progress as JSON')
    .description('phase, transfer and timeline of a migration (virsh domjobinfo)')
    .action(async (id: string, opts: { json?: boolean }) => {
      const client = await connectClient(loadConfig());
      try {
        const p = await onMigration(id, () => client.workflow.getHandle(id).query(progress));
        if (opts.json) console.log(JSON.stringify(p));
        else {
          const t = p.transfer;
          console.log(
            `${p.migrationId}: ${p.vm} ${p.source} → ${p.destination}, ${p.state} in ${p.phase ?? '(not started)'}` +
              (t
                ? `, ${t.status}: ${mib(t.transferred)} sent, ${mib(t.remaining)} left, ${t.passes} passes, expected downtime ${t.expectedDowntimeMs} ms`
                : '') +
              `, downtime limit ${p.maxDowntimeMs} ms, bandwidth ${p.bandwidthMiBps || 'unlimited'} MiB/s`,
          );
        }
      } finally {
        await client.connection.close();
      }
    });
  migration
    .command('abort')
    .argument('<id>', 'migration id')
    .description('abort a migration (virsh domjobabort): it rolls back unless Finish has started')
    .option(...jsonFlag("the migration's report, as `ferry migrate --json` prints it"))
    .action(async (id: string, opts: { json?: boolean }) => {
      const client = await connectClient(loadConfig());
      try {
        const handle = client.workflow.getHandle(id);
        await onMigration(id, () => handle.cancel());
        const report = (await handle.result()) as MigrationReport;
        printResult(opts.json, report, () => describeReport(report));
        process.exitCode = EXIT[report.outcome];
      } finally {
        await client.connection.close();
      }
    });
  migration
    .command('set')
    .argument('<id>', 'migration id')
    .option('--max-downtime <ms>', 'new downtime limit')
    .option('--bandwidth <mibps>', 'new bandwidth limit in MiB/s')
    .option(...jsonFlag('{"migrationId", "maxDowntimeMs", "bandwidthMiBps"} (null: not changed)'))
    .description('change the downtime or bandwidth limit of a running migration')
    .action(async (id: string, opts: { maxDowntime?: string; bandwidth?: string; json?: boolean }) => {
      const o = SetOptions.parse({ maxDowntimeMs: opts.maxDowntime, bandwidthMiBps: opts.bandwidth });
      const client = await connectClient(loadConfig());
      try {
        const handle = client.workflow.getHandle(id);
        await onMigration(id, async () => {
          if (o.maxDowntimeMs !== undefined) await handle.signal(setMaxDowntime, o.maxDowntimeMs);
          if (o.bandwidthMiBps !== undefined) await handle.signal(setBandwidth, o.bandwidthMiBps);
        });
        printResult(
          opts.json,
          {
            migrationId: id,
            maxDowntimeMs: o.maxDowntimeMs ?? null,
            bandwidthMiBps: o.bandwidthMiBps ?? null,
          },
          () => `${id}: limits sent`,
        );
      } finally {
        await client.connection.close();
      }
    });
}

const mib = (bytes: number) => `${(bytes / 1048576).toFixed(1)} MiB`;

export function describeReport(r: MigrationReport): string {
  const head = `${r.migrationId}: ${r.vm} ${r.outcome}`;
  if (r.outcome === 'completed') {
    return `${head}: runs on ${r.destination}; ${mib(r.bytes ?? 0)} in ${r.passes ?? 0} passes, downtime ${r.downtimeMs ?? 0} ms, memory digest ${r.digests.destination?.slice(0, 12) ?? '?'} equals the source's`;
  }
  const why = r.firstError ? `${r.firstError.message} (${r.firstError.type})` : 'no error recorded';
  return r.outcome === 'rolled-back'
    ? `${head}: ${why}; ${r.vm} runs on ${r.runsOn ?? r.source}`
    : `${head}: ${why}; compensation did not complete — check ${r.vm} on ${r.source} and ${r.destination}`;
}

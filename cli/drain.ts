// `ferry drain HOST [--json] [--max-migrations N] [--per-source M] [--per-destination K] [--to H,...]`:
// empties a host for maintenance with the drain workflow and follows it (bars in a terminal, a
// line per guest elsewhere, the report at the end); Ctrl-C cancels it. `ferry drain HOST --cancel`
// cancels a drain running elsewhere. `ferry undrain HOST` lets the host take guests again.
import type { Command } from 'commander';
import { z } from 'zod';
import { ensureController } from '../workers/controller/daemon.ts';
import { FerryError } from '../errors/ferry-error.ts';
import { HostNameSchema } from '../protocol/names.ts';
import { HostRegistry } from '../hosts/agent/registration.ts';
import { loadConfig } from '../infra/config.ts';
import { createRedis } from '../infra/redis/client.ts';
import { DrainMarks } from '../infra/redis/draining.ts';
import { connectClient } from '../infra/temporal/connect.ts';
import type { ClusterOpReport } from '../protocol/cluster.ts';
import { drainWorkflowId, isRunning, startOrAttach } from './cluster-client.ts';
import { describeMove, followClusterOp } from './cluster-follow.ts';
import { limitFlags, parseLimits, type LimitOptions } from './cluster-options.ts';
import { jsonFlag, printResult } from './output.ts';
import { BandwidthOptionSchema } from '../protocol/bandwidth.ts';

export class DrainCommandError extends FerryError {
  readonly code = 'DRAIN_REFUSED';
}

const DrainOptions = z.object({
  host: HostNameSchema,
  to: z.array(HostNameSchema).min(1, 'give at least one host after --to').optional(),
  maxDowntimeMs: z.coerce.number().int().min(1, 'the downtime limit is at least 1 ms').optional(),
  bandwidthMiBps: BandwidthOptionSchema.optional(),
});

/** 0: every guest moved; 3: some did not (rolled back, no room, cancelled); 4: one needs a human. */
export function exitStatus(r: ClusterOpReport): number {
  if (r.guests.some((g) => g.outcome === 'failed')) return 4;
  return r.failed > 0 || r.left > 0 || r.stillOver.length > 0 ? 3 : 0;
}

export function registerDrain(program: Command): void {
  const drain = program
    .command('drain')
    .argument('<host>', 'host to empty')
    .option('--to <hosts>', 'only these hosts may receive its guests (comma-separated)')
    .option('--max-downtime <ms>', "each migration's downtime limit")
    .option('--bandwidth <mibps>', "each migration's bandwidth limit in MiB/s")
    .option('--cancel', 'cancel the drain of this host that is running (what moved stays moved)')
    .option('--json', 'print the report as one JSON object at the end')
    .description(
      'live-migrate every guest off a host (it takes no new guests from now on, until `ferry undrain`)',
    );
  limitFlags(drain).action(
    async (
      host: string,
      opts: LimitOptions & {
        to?: string;
        maxDowntime?: string;
        bandwidth?: string;
        cancel?: boolean;
        json?: boolean;
      },
    ) => {
      const o = DrainOptions.parse({
        host,
        to: opts.to?.split(',').map((h) => h.trim()),
        maxDowntimeMs: opts.maxDowntime,
        bandwidthMiBps: opts.bandwidth,
      });
      const limits = parseLimits(opts);
      const cfg = loadConfig();
      if (opts.cancel) return cancelDrain(o.host);
      const redis = createRedis(cfg, 'ferry-cli');
      try {
        if (!(await new HostRegistry(redis).read(o.host))) {
          throw new DrainCommandError(
            `host ${o.host} is not up: a drain needs its agent to migrate its guests`,
            {
              hint: `start it with \`ferry host start ${o.host} --detach\`, or see \`ferry status\``,
            },
          );
        }
      } finally {
        redis.disconnect();
      }
      const controller = await ensureController(cfg);
      if (controller.started && !opts.json)
        console.error(`started the controller (pid ${controller.pid}, log ${controller.log})`);
      const client = await connectClient(cfg);
      try {
        const { handle, attached } = await startOrAttach(client, {
          type: 'drain',
          input: {
            host: o.host,
            limits,
            ...(o.to ? { destinations: o.to } : {}),
            migration: {
              ...(o.maxDowntimeMs !== undefined ? { maxDowntimeMs: o.maxDowntimeMs } : {}),
              ...(o.bandwidthMiBps !== undefined ? { bandwidthMiBps: o.bandwidthMiBps } : {}),
            },
          },
        });
        if (!opts.json) {
          console.error(
            attached
              ? `a drain of ${o.host} is already running (${handle.workflowId}): following it (its own limits apply)`
              : `draining ${o.host} (${handle.workflowId}): at most ${limits.cluster} migrations in the cluster, ${limits.perSource} out of a host, ${limits.perDestination} into one; Ctrl-C cancels`,
          );
        }
        const report = await followClusterOp(client, handle, {
          bars: !opts.json && process.stderr.isTTY,
          lines: !opts.json && !process.stderr.isTTY,
          what: `drain ${o.host}`,
        });
        console.log(opts.json ? JSON.stringify(report) : describeReport(report));
        process.exitCode = exitStatus(report);
      } finally {
        await client.connection.close();
      }
    },
  );

  program
    .command('undrain')
    .argument('<host>', 'host that may take guests again')
    .description('lift the drain mark of a host (refused while its drain runs)')
    .option(...jsonFlag('{"host", "wasDraining"}'))
    .action(async (host: string, opts: { json?: boolean }) => {
      const name = HostNameSchema.parse(host);
      const cfg = loadConfig();
      const client = await connectClient(cfg);
      const redis = createRedis(cfg, 'ferry-cli');
      try {
        if (await isRunning(client, drainWorkflowId(name))) {
          throw new DrainCommandError(`the drain of ${name} is still running`, {
            hint: `cancel it first: \`ferry drain ${name} --cancel\``,
          });
        }
        const cleared = await new DrainMarks(redis).clear(name);
        printResult(opts.json, { host: name, wasDraining: cleared }, () =>
          cleared ? `${name} takes new guests again` : `${name} was not draining`,
        );
      } finally {
        redis.disconnect();
        await client.connection.close();
      }
    });
}

async function cancelDrain(host: string): Promise<void> {
  const client = await connectClient(loadConfig());
  try {
    const id = drainWorkflowId(host);
    if (!(await isRunning(client, id))) {
      throw new DrainCommandError(`no drain of ${host} is running`, { hint: 'see `ferry status`' });
    }
    await client.workflow.getHandle(id).cancel();
    console.log(`drain of ${host} cancelled: migrations in flight roll back, what moved stays moved`);
  } finally {
    await client.connection.close();
  }
}

export function describeReport(r: ClusterOpReport): string {
  const what = r.kind === 'drain' ? `drain of ${r.host}` : `rebalance to ${r.thresholdPct}%`;
  const seconds = ((Date.parse(r.endedAt) - Date.parse(r.startedAt)) / 1000).toFixed(1);
  const head = `${what}${r.cancelled ? ' (cancelled)' : ''}: ${r.moved} moved, ${r.failed} not moved, ${r.left} not started, in ${seconds} s`;
  const trouble = r.guests.filter((g) => g.outcome !== 'completed').map((g) => `  ${describeMove(g)}`);
  const over = r.stillOver.length > 0 ? [`  still above ${r.thresholdPct}%: ${r.stillOver.join(', ')}`] : [];
  return [head, ...trouble, ...over].join('\n');
}

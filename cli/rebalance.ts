// `ferry rebalance [--threshold PCT] [--hosts H,...] [--json] [limits]`: moves guests so that no
// host uses more than PCT of its memory, under the same limits as a drain, and follows it.
import type { Command } from 'commander';
import { z } from 'zod';
import { ensureController } from '../workers/controller/daemon.ts';
import { HostNameSchema } from '../protocol/names.ts';
import { loadConfig } from '../infra/config.ts';
import { connectClient } from '../infra/temporal/connect.ts';
import { DEFAULT_THRESHOLD_PCT } from '../protocol/cluster.ts';
import { startOrAttach } from './cluster-client.ts';
import { followClusterOp } from './cluster-follow.ts';
import { limitFlags, parseLimits, type LimitOptions } from './cluster-options.ts';
import { describeReport, exitStatus } from './drain.ts';

const RebalanceOptions = z.object({
  thresholdPct: z.coerce
    .number()
    .gt(0, 'the threshold is a percentage above 0')
    .max(100, 'the threshold is a percentage up to 100'),
  hosts: z.array(HostNameSchema).min(2, 'a rebalance needs at least two hosts').optional(),
});

export function registerRebalance(program: Command): void {
  const rebalance = program
    .command('rebalance')
    .option(
      '--threshold <pct>',
      'highest share of its memory a host should use',
      String(DEFAULT_THRESHOLD_PCT),
    )
    .option('--hosts <hosts>', 'only these hosts take part (comma-separated)')
    .option('--json', 'print the report as one JSON object at the end')
    .description('live-migrate guests off hosts above a memory-load threshold onto hosts below it');
  limitFlags(rebalance).action(
    async (opts: LimitOptions & { threshold: string; hosts?: string; json?: boolean }) => {
      const o = RebalanceOptions.parse({
        thresholdPct: opts.threshold,
        hosts: opts.hosts?.split(',').map((h) => h.trim()),
      });
      const limits = parseLimits(opts);
      const cfg = loadConfig();
      const controller = await ensureController(cfg);
      if (controller.started && !opts.json)
        console.error(`started the controller (pid ${controller.pid}, log ${controller.log})`);
      const client = await connectClient(cfg);
      try {
        const { handle, attached } = await startOrAttach(client, {
          type: 'rebalance',
          input: { thresholdPct: o.thresholdPct, limits, ...(o.hosts ? { hosts: o.hosts } : {}) },
        });
        if (!opts.json && attached)
          console.error(`a rebalance is already running: following it (its own threshold applies)`);
        const report = await followClusterOp(client, handle, {
          bars: !opts.json && process.stderr.isTTY,
          lines: !opts.json && !process.stderr.isTTY,
          what: `rebalance to ${o.thresholdPct}%`,
        });
        console.log(opts.json ? JSON.stringify(report) : describeReport(report));
        process.exitCode = exitStatus(report);
      } finally {
        await client.connection.close();
      }
    },
  );
}

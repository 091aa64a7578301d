// The limit flags drains and rebalances share, parsed once with zod.
import type { Command } from 'commander';
import { z } from 'zod';
import { DEFAULT_LIMITS, type MigrationLimits } from '../protocol/cluster.ts';

export interface LimitOptions {
  maxMigrations?: string;
  perSource?: string;
  perDestination?: string;
}

const limit = (what: string) =>
  z.coerce.number().int(`${what} is a whole number`).min(1, `${what} is at least 1`);

const LimitsSchema = z.object({
  cluster: limit('--max-migrations').default(DEFAULT_LIMITS.cluster),
  perSource: limit('--per-source').default(DEFAULT_LIMITS.perSource),
  perDestination: limit('--per-destination').default(DEFAULT_LIMITS.perDestination),
});

export function limitFlags(command: Command): Command {
  return command
    .option('--max-migrations <n>', `migrations at once in the cluster (default ${DEFAULT_LIMITS.cluster})`)
    .option('--per-source <m>', `migrations at once out of one host (default ${DEFAULT_LIMITS.perSource})`)
    .option(
      '--per-destination <k>',
      `migrations at once into one host (default ${DEFAULT_LIMITS.perDestination})`,
    );
}

export function parseLimits(opts: LimitOptions): MigrationLimits {
  return LimitsSchema.parse({
    cluster: opts.maxMigrations,
    perSource: opts.perSource,
    perDestination: opts.perDestination,
  });
}

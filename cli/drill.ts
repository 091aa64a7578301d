// `ferry drill NAME | --list | --matrix [--only S] | --seed N [--migrations M]` [--json] [--lab A,B]:
// the crash-recovery drills (drills/), each on a fresh cluster of its own (or on two hosts of a
// lab), each ending in a verdict.
import type { Command } from 'commander';
import { z } from 'zod';
import { buildCatalog, findDrill, type Drill } from '../drills/catalog.ts';
import { closeOpenClusters } from '../drills/cluster.ts';
import { drillSources } from '../drills/sources.ts';
import { runMatrix } from '../drills/matrix.ts';
import type { DrillResult } from '../drills/run.ts';
import { schedule } from '../drills/seed.ts';
import { FerryError } from '../errors/ferry-error.ts';
import { loadConfig, type Config } from '../infra/config.ts';
import { labConfig, labHost } from '../lab/netns.ts';
import type { LabHost } from '../lab/netns-state.ts';
import { createLogger } from '../infra/logging/logger.ts';
import { stackUp } from '../infra/stack/stack.ts';

export class DrillCommandError extends FerryError {
  readonly code = 'DRILL_REFUSED';
}

const OptionsSchema = z
  .object({
    list: z.boolean().default(false),
    matrix: z.boolean().default(false),
    json: z.boolean().default(false),
    only: z.string().min(1).optional(),
    seed: z.coerce
      .number()
      .int()
      .min(0)
      .max(2 ** 32 - 1)
      .optional(),
    migrations: z.coerce.number().int().min(1).max(1000).default(10),
    keepState: z.boolean().default(false),
    lab: z
      .string()
      .regex(/^[a-z0-9][a-z0-9-]*,[a-z0-9][a-z0-9-]*$/, '--lab takes two lab hosts: SOURCE,DESTINATION')
      .optional(),
  })
  .strict();

const line = (r: DrillResult) =>
  `${r.passed ? 'PASS' : 'FAIL'} ${r.name} (${r.seconds} s${r.outcome ? `, ${r.outcome}` : ''}${
    r.firstErrorPhase ? ` at ${r.firstErrorPhase}` : ''
  }${r.downMs !== undefined ? `, down ${(r.downMs / 1000).toFixed(1)} s` : ''})${
    r.operatorStep ? ` [operator: ${r.operatorStep}]` : ''
  }${r.why ? `: ${r.why}` : ''}`;

/**
 * The lab's configuration and the two hosts `--lab A,B` names. The drill's controller is a child
 * process configured by its environment: it must find the lab's stack on the bridge too.
 */
function drillLab(names: string): { cfg: Config; hosts: [LabHost, LabHost] } {
  const [a, b] = names.split(',') as [string, string];
  const { state, host: source } = labHost(process.env, a);
  const { host: destination } = labHost(process.env, b);
  process.env.FERRY_BIND_HOST = state.bridgeAddress;
  return { cfg: labConfig(process.env, state.bridgeAddress), hosts: [source, destination] };
}

export function registerDrill(program: Command): void {
  program
    .command('drill')
    .argument('[name]', 'a drill, e.g. kill-source-agent@perform (see --list)')
    .option('--list', 'list the drills')
    .option('--matrix', 'run every drill (or those --only names)')
    .option('--only <substring>', 'with --matrix: only the drills whose name contains this')
    .option('--seed <n>', 'random fault schedules over many migrations, the same for the same seed')
    .option('--migrations <m>', 'with --seed: how many migrations (default 10)')
    .option('--json', 'print one JSON object')
    .option(
      '--lab <source,destination>',
      "run on two hosts of the lab (`ferry lab up`): a partition takes the host's link down",
    )
    .option(
      '--keep-state',
      "keep a passed drill's host and controller state dirs (a failed drill's are always kept)",
    )
    .description('crash-recovery drills: a real fault at a real moment of a migration, then the verdict')
    .action(async (name: string | undefined, raw: Record<string, unknown>) => {
      const opts = OptionsSchema.parse(raw);
      const onLab = opts.lab ? drillLab(opts.lab) : undefined;
      const cfg = onLab?.cfg ?? loadConfig();
      const sources = await drillSources(cfg);
      const catalog = buildCatalog(sources.faults);
      const modes = [name !== undefined, opts.list, opts.matrix, opts.seed !== undefined].filter(Boolean);
      if (modes.length !== 1) {
        throw new DrillCommandError('say one of: a drill NAME, --list, --matrix or --seed N', {
          hint: 'see `ferry drill --help`',
        });
      }
      if (opts.list) {
        if (opts.json) {
          console.log(
            JSON.stringify(catalog.map((d) => ({ name: d.name, description: d.fault.description }))),
          );
        } else {
          for (const d of catalog) console.log(`${d.name.padEnd(40)} ${d.fault.description}`);
        }
        return;
      }
      let drills: (Drill & { settings?: { performAtBytes: number } })[];
      if (name !== undefined) {
        const drill = findDrill(catalog, name);
        if (!drill) {
          throw new DrillCommandError(`no drill named ${JSON.stringify(name)}`, {
            hint: 'see `ferry drill --list`',
          });
        }
        drills = [drill];
      } else if (opts.seed !== undefined) {
        drills = schedule(opts.seed, opts.migrations, sources.faults).map((d) => ({
          ...d,
          settings: { performAtBytes: d.performAtBytes },
        }));
      } else {
        drills = opts.only ? catalog.filter((d) => d.name.includes(opts.only!)) : catalog;
        if (drills.length === 0) {
          throw new DrillCommandError(`no drill name contains ${JSON.stringify(opts.only)}`, {
            hint: 'see `ferry drill --list`',
          });
        }
      }
      await stackUp(cfg, () => undefined);
      const log = createLogger('drill', 'warn');
      // Ctrl-C: the drill's hosts, guests and controller are stopped before the command ends.
      for (const signal of ['SIGINT', 'SIGTERM'] as const) {
        process.once(signal, () => {
          process.stderr.write(`${signal}: stopping the drill's hosts, guests and controller\n`);
          void closeOpenClusters().finally(() => process.exit(130));
        });
      }
      const print = (l: string) => (opts.json ? process.stderr.write(l + '\n') : console.log(l));
      if (opts.seed !== undefined) print(`seed ${opts.seed}: ${drills.map((d) => d.name).join(', ')}`);
      const report = await runMatrix(cfg, log, drills, {
        ...(sources.linksProvider ? { linksProvider: sources.linksProvider } : {}),
        ...(onLab ? { lab: onLab.hosts } : {}),
        keepState: opts.keepState,
        onResult: (r) => print(line(r)),
      });
      const summary = {
        drills: report.drills,
        passed: report.passed,
        failed: report.failed,
        seconds: report.seconds,
        ...(opts.seed !== undefined ? { seed: opts.seed } : {}),
      };
      if (opts.json)
        console.log(JSON.stringify(name !== undefined ? { ...summary, result: report.results[0] } : summary));
      else print(`${report.passed}/${report.drills} passed in ${report.seconds} s`);
      // Exit now: a client a fault left reconnecting must not keep the command alive.
      process.exit(report.failed.length > 0 ? 3 : 0);
    });
}

// `ferry guest start VM --host NAME --memory MIB [--dirty-rate N] [--kind emulated|qemu] [--working-set MIB]`,
// `ferry guest stop|kill VM [--host NAME]`, `ferry guest resume VM --host NAME`, `ferry guest digest VM`;
// each with `--json`. A host whose agent is down is refused at once: the operation would wait for it.
import type { Command } from 'commander';
import { VmNameSchema } from '../protocol/events.ts';
import { HostNameSchema } from '../protocol/names.ts';
import { HostRegistry } from '../hosts/agent/registration.ts';
import { loadConfig } from '../infra/config.ts';
import { createRedis } from '../infra/redis/client.ts';
import { claimPlacement, placementOf, releasePlacement } from '../infra/redis/placement.ts';
import { GuestCommandError, GuestStartSchema, startGuestOn } from './guest-start.ts';
import { runHostOperation } from './host-operation.ts';
import { jsonFlag, printResult } from './output.ts';

export function registerGuest(program: Command): void {
  const guest = program.command('guest').description('start, stop and inspect guests');

  guest
    .command('start')
    .argument('<vm>', 'VM name')
    .requiredOption('--host <name>', 'host to run it on')
    .requiredOption('--memory <mib>', 'guest memory in MiB')
    .option('--dirty-rate <pages-per-second>', 'emulated guests: pages its workload dirties per second', '0')
    .option('--kind <kind>', 'emulated (a Node process) or qemu (qemu-system-x86_64)', 'emulated')
    .option('--working-set <mib>', 'qemu guests: MiB its program keeps rewriting (default 8)')
    .option(...jsonFlag('{"vm", "host", "kind", "memoryMiB", "pid"}'))
    .action(
      async (
        vm: string,
        opts: {
          host: string;
          memory: string;
          dirtyRate: string;
          kind: string;
          workingSet?: string;
          json?: boolean;
        },
      ) => {
        const o = GuestStartSchema.parse({
          vm,
          host: opts.host,
          memoryMiB: opts.memory,
          dirtyPagesPerSecond: opts.dirtyRate,
          kind: opts.kind,
          ...(opts.workingSet !== undefined ? { workingSetMiB: opts.workingSet } : {}),
        });
        const cfg = loadConfig();
        const redis = createRedis(cfg, 'ferry-cli');
        try {
          const { pid } = await startGuestOn(cfg, redis, o);
          printResult(
            opts.json,
            { vm: o.vm, host: o.host, kind: o.kind, memoryMiB: o.memoryMiB, pid },
            () => `${o.vm} runs on ${o.host} (${o.kind}, ${o.memoryMiB} MiB, pid ${pid})`,
          );
        } finally {
          redis.disconnect();
        }
      },
    );

  for (const [name, op, what] of [
    ['stop', 'stopGuest', 'ask the guest to quit'],
    ['kill', 'killGuest', 'kill the guest process (SIGKILL)'],
  ] as const) {
    guest
      .command(name)
      .argument('<vm>', 'VM name')
      .option(
        '--host <name>',
        'the host whose copy to act on, when the placement cannot say (Redis lost its data) or names another copy',
      )
      .option(...jsonFlag(`{"vm", "host", "outcome": "${name === 'stop' ? 'stopped' : 'killed'}"}`))
      .description(what)
      .action(async (vm: string, opts: { host?: string; json?: boolean }) => {
        const cfg = loadConfig();
        const redis = createRedis(cfg, 'ferry-cli');
        try {
          const host =
            opts.host === undefined
              ? await hostOf(redis, VmNameSchema.parse(vm))
              : HostNameSchema.parse(opts.host);
          await assertUp(redis, host, vm);
          if (op === 'killGuest') await runHostOperation(cfg, host, op, vm, 'killed by operator');
          else await runHostOperation(cfg, host, op, vm);
          await releasePlacement(redis, vm, host);
          const outcome = name === 'stop' ? 'stopped' : 'killed';
          printResult(opts.json, { vm, host, outcome }, () => `${vm} ${outcome} on ${host}`);
        } finally {
          redis.disconnect();
        }
      });
  }

  guest
    .command('resume')
    .argument('<vm>', 'VM name')
    .requiredOption('--host <name>', 'the host whose paused copy to resume')
    .description(
      'resume a paused guest, after taking its disk leases (refused if another host holds them); a running one is left as it is',
    )
    .option(
      ...jsonFlag(
        '{"vm", "host", "outcome": "resumed" | "already running", "placement": the host the placement names}',
      ),
    )
    .action(async (vm: string, opts: { host: string; json?: boolean }) => {
      const cfg = loadConfig();
      const redis = createRedis(cfg, 'ferry-cli');
      try {
        const host = HostNameSchema.parse(opts.host);
        VmNameSchema.parse(vm);
        await assertUp(redis, host, vm);
        // `cont` on a running guest is a no-op QEMU does not report: say so instead of "resumed".
        const { running } = await runHostOperation(cfg, host, 'guestStatus', vm);
        if (!running) await runHostOperation(cfg, host, 'resumeGuest', vm);
        const other = await claimPlacement(redis, vm, host);
        const r = {
          vm,
          host,
          outcome: running ? 'already running' : 'resumed',
          placement: other ?? host,
        };
        printResult(
          opts.json,
          r,
          () =>
            `${vm} ${r.outcome} on ${host}${r.placement !== host ? ` (placement still names ${r.placement})` : ''}`,
        );
      } finally {
        redis.disconnect();
      }
    });

  guest
    .command('digest')
    .argument('<vm>', 'VM name')
    .option(...jsonFlag('{"vm", "host", "digest"}'))
    .description("digest (sha256) of the guest's memory")
    .action(async (vm: string, opts: { json?: boolean }) => {
      const cfg = loadConfig();
      const redis = createRedis(cfg, 'ferry-cli');
      try {
        const host = await hostOf(redis, VmNameSchema.parse(vm));
        await assertUp(redis, host, vm);
        const d = await runHostOperation(cfg, host, 'guestDigest', vm);
        printResult(opts.json, d, () => `${d.vm} on ${d.host}: ${d.digest}`);
      } finally {
        redis.disconnect();
      }
    });
}

async function hostOf(redis: Parameters<typeof placementOf>[0], vm: string): Promise<string> {
  const host = await placementOf(redis, vm);
  if (!host)
    throw new GuestCommandError(`no guest named ${vm} in the cluster`, {
      hint: 'see `ferry guest start --help`',
    });
  return host;
}

/** The host's agent is up: an operation sent to a host that is down would wait minutes for it. */
async function assertUp(redis: Parameters<typeof placementOf>[0], host: string, vm: string): Promise<void> {
  if (await new HostRegistry(redis).read(host)) return;
  throw new GuestCommandError(
    `${vm} on ${host}: the host is down (no live agent registered under that name)`,
    {
      hint: `start its agent (\`ferry host start ${host} --detach\`); its guests keep running meanwhile`,
    },
  );
}

// `ferry guest start VM --host NAME --memory MIB [--dirty-rate N] [--kind emulated|qemu] [--working-set MIB]`,
// `ferry guest stop|kill VM [--host NAME]`, `ferry guest resume VM --host NAME`, `ferry guest digest VM [--json]`.
import type { Command } from 'commander';
import { VmNameSchema } from '../protocol/events.ts';
import { HostNameSchema } from '../hosts/agent/identity.ts';
import { loadConfig } from '../infra/config.ts';
import { createRedis } from '../infra/redis/client.ts';
import { claimPlacement, placementOf, releasePlacement } from '../infra/redis/placement.ts';
import { GuestCommandError, GuestStartSchema, startGuestOn } from './guest-start.ts';
import { runHostOperation } from './host-operation.ts';

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
    .action(
      async (
        vm: string,
        opts: { host: string; memory: string; dirtyRate: string; kind: string; workingSet?: string },
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
          console.log(`${o.vm} runs on ${o.host} (${o.kind}, ${o.memoryMiB} MiB, pid ${pid})`);
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
      .description(what)
      .action(async (vm: string, opts: { host?: string }) => {
        const cfg = loadConfig();
        const redis = createRedis(cfg, 'ferry-cli');
        try {
          const host =
            opts.host === undefined
              ? await hostOf(redis, VmNameSchema.parse(vm))
              : HostNameSchema.parse(opts.host);
          if (op === 'killGuest') await runHostOperation(cfg, host, op, vm, 'killed by operator');
          else await runHostOperation(cfg, host, op, vm);
          await releasePlacement(redis, vm, host);
          console.log(`${vm} ${name === 'stop' ? 'stopped' : 'killed'} on ${host}`);
        } finally {
          redis.disconnect();
        }
      });
  }

  guest
    .command('resume')
    .argument('<vm>', 'VM name')
    .requiredOption('--host <name>', 'the host whose paused copy to resume')
    .description('resume a paused guest, after taking its disk leases (refused if another host holds them)')
    .action(async (vm: string, opts: { host: string }) => {
      const cfg = loadConfig();
      const redis = createRedis(cfg, 'ferry-cli');
      try {
        const host = HostNameSchema.parse(opts.host);
        await runHostOperation(cfg, host, 'resumeGuest', VmNameSchema.parse(vm));
        const other = await claimPlacement(redis, vm, host);
        console.log(
          `${vm} resumed on ${host}${other && other !== host ? ` (placement still names ${other})` : ''}`,
        );
      } finally {
        redis.disconnect();
      }
    });

  guest
    .command('digest')
    .argument('<vm>', 'VM name')
    .option('--json', 'print {"vm", "host", "digest"}')
    .description("digest (sha256) of the guest's memory")
    .action(async (vm: string, opts: { json?: boolean }) => {
      const cfg = loadConfig();
      const redis = createRedis(cfg, 'ferry-cli');
      try {
        const host = await hostOf(redis, VmNameSchema.parse(vm));
        const d = await runHostOperation(cfg, host, 'guestDigest', vm);
        console.log(opts.json ? JSON.stringify(d) : `${d.vm} on ${d.host}: ${d.digest}`);
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

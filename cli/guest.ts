// `ferry guest start VM --host NAME --memory MIB [--dirty-rate N] [--kind emulated|qemu]`,
// `ferry guest stop|kill VM`, `ferry guest digest VM [--json]`.
import type { Command } from 'commander';
import { z } from 'zod';
import { VmNameSchema } from '../events/schema.ts';
import { FerryError } from '../errors/ferry-error.ts';
import { HostNameSchema } from '../hosts/agent/identity.ts';
import { HostRegistry } from '../hosts/agent/registration.ts';
import { loadConfig } from '../infra/config.ts';
import { createRedis } from '../infra/redis/client.ts';
import { DrainMarks } from '../infra/redis/draining.ts';
import { claimPlacement, placementOf, releasePlacement } from '../infra/redis/placement.ts';
import { runHostOperation } from './host-operation.ts';

export class GuestCommandError extends FerryError {
  readonly code = 'GUEST_COMMAND_REFUSED';
}

const StartOptions = z.object({
  vm: VmNameSchema,
  host: HostNameSchema,
  memoryMiB: z.coerce.number().int().min(8, 'a guest needs at least 8 MiB'),
  dirtyPagesPerSecond: z.coerce.number().min(0).default(0),
  kind: z.enum(['emulated', 'qemu']).default('emulated'),
});

export function registerGuest(program: Command): void {
  const guest = program.command('guest').description('start, stop and inspect guests');

  guest
    .command('start')
    .argument('<vm>', 'VM name')
    .requiredOption('--host <name>', 'host to run it on')
    .requiredOption('--memory <mib>', 'guest memory in MiB')
    .option('--dirty-rate <pages-per-second>', 'emulated guests: pages its workload dirties per second', '0')
    .option('--kind <kind>', 'emulated (a Node process) or qemu (qemu-system-x86_64)', 'emulated')
    .action(async (vm: string, opts: { host: string; memory: string; dirtyRate: string; kind: string }) => {
      const o = StartOptions.parse({
        vm,
        host: opts.host,
        memoryMiB: opts.memory,
        dirtyPagesPerSecond: opts.dirtyRate,
        kind: opts.kind,
      });
      const cfg = loadConfig();
      const redis = createRedis(cfg, 'ferry-cli');
      try {
        const reg = await new HostRegistry(redis).read(o.host);
        if (!reg) {
          throw new GuestCommandError(`unknown host ${o.host} (no live agent registered under that name)`, {
            hint: `start it with \`ferry host start ${o.host} --detach\``,
          });
        }
        const draining = await new DrainMarks(redis).get(o.host);
        if (draining) {
          throw new GuestCommandError(
            `host ${o.host} is draining (since ${draining.since}, by ${draining.by})`,
            {
              hint: `choose another host, or \`ferry undrain ${o.host}\` once its maintenance is over`,
            },
          );
        }
        const free = reg.memoryMiB - reg.usedMiB;
        if (o.memoryMiB > free) {
          throw new GuestCommandError(
            `host ${o.host} has ${free} MiB free, ${o.vm} needs ${o.memoryMiB} MiB`,
            {
              hint: 'choose a smaller guest or another host',
            },
          );
        }
        const holder = await claimPlacement(redis, o.vm, o.host);
        if (holder !== null) {
          throw new GuestCommandError(`a guest named ${o.vm} already runs on ${holder}`, {
            hint: 'VM names are unique in the cluster; choose another',
          });
        }
        try {
          const { pid } = await runHostOperation(cfg, o.host, 'startGuest', {
            vm: o.vm,
            kind: o.kind,
            memoryMiB: o.memoryMiB,
            dirtyPagesPerSecond: o.dirtyPagesPerSecond,
          });
          console.log(`${o.vm} runs on ${o.host} (${o.kind}, ${o.memoryMiB} MiB, pid ${pid})`);
        } catch (err) {
          await releasePlacement(redis, o.vm, o.host);
          throw err;
        }
      } finally {
        redis.disconnect();
      }
    });

  for (const [name, op, what] of [
    ['stop', 'stopGuest', 'ask the guest to quit'],
    ['kill', 'killGuest', 'kill the guest process (SIGKILL)'],
  ] as const) {
    guest
      .command(name)
      .argument('<vm>', 'VM name')
      .description(what)
      .action(async (vm: string) => {
        const cfg = loadConfig();
        const redis = createRedis(cfg, 'ferry-cli');
        try {
          const host = await hostOf(redis, VmNameSchema.parse(vm));
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

// `ferry lab up|down|status|partition|heal`: hosts in network namespaces of their own on this
// machine (lab/netns.ts; docs/lab.md). Root only.
import type { Command } from 'commander';
import { z } from 'zod';
import { HostNameSchema } from '../protocol/names.ts';
import { labDown, labStatus, labUp, MAX_LAB_HOSTS, setLabLink } from '../lab/netns.ts';
import { jsonFlag, printResult } from './output.ts';

const say = (line: string) => console.log(line);

const UpOptions = z.object({
  hosts: z.coerce.number().int().min(1).max(MAX_LAB_HOSTS),
  prefix: z
    .string()
    .regex(/^[a-z][a-z0-9-]{0,19}$/, 'the prefix is lower-case letters, digits and -, at most 20 characters'),
  memoryMiB: z.coerce
    .number()
    .int()
    .min(64)
    .max(1024 * 1024),
});

export function registerLab(program: Command): void {
  const lab = program
    .command('lab')
    .description('hosts in network namespaces of their own on this machine, partitioned for real (root)');

  lab
    .command('up')
    .description('a bridge, the stack bound to it, one namespace, link, state dir and agent per host')
    .requiredOption('--hosts <n>', `how many hosts (1-${MAX_LAB_HOSTS})`)
    .option('--prefix <name>', 'host names: PREFIX-1 ... PREFIX-N', 'lab')
    .option('--memory <mib>', 'memory each host offers to guests', '4096')
    .option(...jsonFlag('{"hosts": [{"name", "netns", "address"}], "bridge", "bindHost", "seconds"}'))
    .action(async (raw: { hosts: string; prefix: string; memory: string; json?: boolean }) => {
      const opts = UpOptions.parse({ hosts: raw.hosts, prefix: raw.prefix, memoryMiB: raw.memory });
      const up = await labUp(process.env, opts, raw.json ? () => undefined : say);
      const result = {
        hosts: up.state.hosts.map((h) => ({ name: h.name, netns: h.netns, address: h.address })),
        bridge: up.state.bridge,
        bindHost: up.state.bridgeAddress,
        seconds: Math.round(up.seconds * 10) / 10,
      };
      printResult(
        raw.json,
        result,
        () =>
          `lab up: ${result.hosts.length} hosts on ${result.bridge} in ${result.seconds} s; ` +
          `point ferry at its stack with: export FERRY_BIND_HOST=${result.bindHost}`,
      );
    });

  lab
    .command('down')
    .description('remove every namespace, link, process and address the lab made, and nothing else')
    .option(...jsonFlag('{"hosts", "agents", "processes"}'))
    .action(async (opts: { json?: boolean }) => {
      const down = await labDown(process.env, opts.json ? () => undefined : say);
      printResult(opts.json, down, () =>
        down.hosts === 0
          ? 'no lab was up'
          : `lab down: ${down.hosts} hosts removed (${down.agents} agents stopped, ${down.processes} guest processes killed)`,
      );
    });

  lab
    .command('status')
    .description("the lab's hosts: namespace, address, link, agent, registration")
    .option(
      ...jsonFlag(
        '{"up", "bridge", "bridgeAddress", "hosts": [{"name", "netns", "address", "link", "agent", "pid", "registered"}]}',
      ),
    )
    .action(async (opts: { json?: boolean }) => {
      const s = await labStatus(process.env);
      printResult(opts.json, s, () =>
        !s.up
          ? 'no lab is up'
          : [
              `bridge ${s.bridge} ${s.bridgeAddress}`,
              ...s.hosts.map(
                (h) =>
                  `${h.name.padEnd(12)} ${h.netns.padEnd(18)} ${h.address.padEnd(12)} link ${h.link.padEnd(5)} ` +
                  `agent ${h.agent}${h.pid ? ` (pid ${h.pid})` : ''}${h.registered ? '' : ', not registered'}`,
              ),
            ].join('\n'),
      );
    });

  for (const [name, state, what] of [
    ['partition', 'down', 'cut HOST off: its link to the bridge goes down (a real partition)'],
    ['heal', 'up', "restore HOST's link"],
  ] as const) {
    lab
      .command(name)
      .argument('<host>', 'a host of the lab')
      .description(what)
      .option(...jsonFlag('{"host", "link"}'))
      .action((host: string, opts: { json?: boolean }) => {
        const h = setLabLink(process.env, HostNameSchema.parse(host), state);
        printResult(opts.json, { host: h.name, link: state }, () => `${h.name}: link ${h.hostSide} ${state}`);
      });
  }
}

// `ferry host start NAME [--address IP] [--advertise ADDR] [--memory MIB] [--data-port P] [--advertise-port P]
// [--guest-runner] [--detach]` and `ferry host stop NAME`.
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Command } from 'commander';
import { FerryError } from '../errors/ferry-error.ts';
import { runnable } from '../infra/build/compiled.mjs';
import { AgentArgsSchema } from '../hosts/agent/agent-args.ts';
import { checkCertificateName, hostStateDir } from '../hosts/agent/identity.ts';
import { hostTaskQueue } from '../protocol/task-queues.ts';
import { HostRegistry } from '../hosts/agent/registration.ts';
import { loadConfig, type Config } from '../infra/config.ts';
import { startDaemon, stopDaemon } from '../infra/process/daemon.ts';
import { tailFile } from '../infra/process/log-tail.ts';
import { isSameProcessAlive, readLivePidFile } from '../infra/process/pid-file.ts';
import { createRedis } from '../infra/redis/client.ts';
import { jsonFlag, printResult } from './output.ts';

export class HostCommandError extends FerryError {
  readonly code = 'HOST_COMMAND_FAILED';
}

const AGENT_MAIN = await runnable(import.meta.url, '../workers/agent/main.ts');
const agentFiles = (cfg: Config, name: string) => {
  const dir = hostStateDir(cfg.stateDir, name);
  return { dir, pid: join(dir, 'agent.pid'), log: join(dir, 'agent.log') };
};

interface StartOptions {
  address?: string;
  advertise?: string;
  memory?: string;
  dataPort?: string;
  advertisePort?: string;
  guestRunner?: boolean;
  detach?: boolean;
  json?: boolean;
}

export function registerHost(program: Command): void {
  const host = program.command('host').description('start and stop host agents');

  host
    .command('start')
    .argument('<name>', 'host name: lower-case letters, digits and -')
    .option('--address <ip>', 'IPv4 address its data plane listens on (default 127.0.0.1)')
    .option('--advertise <addr>', 'address other hosts reach its data plane at, when not --address')
    .option('--memory <mib>', 'memory the host offers to guests')
    .option('--data-port <port>', 'listen port of its data plane (default: any free port)')
    .option('--advertise-port <port>', 'data-plane port other hosts are told (a proxy in front of it)')
    .option('--guest-runner', 'run its emulated guests in one runner process, not a process each')
    .option('--detach', 'run in the background (log and pid file in its state dir)')
    .option(...jsonFlag('{"host", "pid", "taskQueue", "address", "log"} (needs --detach)'))
    .description('start the agent of host NAME')
    .action(async (name: string, opts: StartOptions) => {
      const args = AgentArgsSchema.parse({
        name,
        address: opts.address,
        advertise: opts.advertise,
        memoryMiB: opts.memory,
        dataPort: opts.dataPort,
        advertisePort: opts.advertisePort,
        guestRunner: opts.guestRunner,
      });
      if (opts.json && !opts.detach) {
        throw new HostCommandError('--json prints the started agent, so it needs --detach', {
          hint: `ferry host start ${args.name} --detach --json`,
        });
      }
      const cfg = loadConfig();
      const files = agentFiles(cfg, args.name);
      const running = readLivePidFile(files.pid);
      if (running) {
        throw new HostCommandError(`host ${args.name} already runs (pid ${running.pid})`, {
          hint: `stop it first with \`ferry host stop ${args.name}\``,
        });
      }
      const argv = ['--name', args.name, '--address', args.address, '--memory', String(args.memoryMiB)];
      if (args.advertise !== undefined) argv.push('--advertise', args.advertise);
      if (args.dataPort !== 0) argv.push('--data-port', String(args.dataPort));
      if (args.advertisePort !== undefined) argv.push('--advertise-port', String(args.advertisePort));
      if (args.guestRunner) argv.push('--guest-runner');
      if (!opts.detach) {
        const { HostAgent } = await import('../workers/agent/agent.ts');
        const { createLogger } = await import('../infra/logging/logger.ts');
        const log = createLogger(`agent ${args.name}`);
        const { useIdentity } = await import('../infra/pki/index.ts');
        useIdentity('host', args.name);
        checkCertificateName(cfg, args.name);
        const agent = await HostAgent.start(cfg, args, log);
        await new Promise<void>((resolve) => process.once('SIGINT', resolve).once('SIGTERM', resolve));
        await agent.stop();
        return;
      }
      mkdirSync(files.dir, { recursive: true });
      const record = startDaemon({
        command: process.execPath,
        args: [AGENT_MAIN, ...argv],
        logPath: files.log,
        pidPath: files.pid,
      });
      const redis = createRedis(cfg, 'ferry-cli');
      try {
        const registry = new HostRegistry(redis);
        const deadline = Date.now() + 90_000;
        for (;;) {
          const reg = await registry.read(args.name);
          if (reg && reg.pid === record.pid) break;
          if (!isSameProcessAlive(record) || Date.now() > deadline) {
            throw new HostCommandError(
              `host ${args.name} did not come up: ${tailFile(files.log, 1) || '(empty log)'}`,
              {
                hint: `read ${files.log}`,
              },
            );
          }
          await sleep(200);
        }
      } finally {
        redis.disconnect();
      }
      const up = {
        host: args.name,
        pid: record.pid,
        taskQueue: hostTaskQueue(args.name),
        address: args.address,
        log: files.log,
      };
      printResult(
        opts.json,
        up,
        () =>
          `host ${up.host} up: pid ${up.pid}, task queue ${up.taskQueue}, data plane on ${up.address}, log ${up.log}`,
      );
    });

  host
    .command('stop')
    .argument('<name>', 'host name')
    .description('stop the agent of host NAME (its guests keep running, as QEMU outlives libvirtd)')
    .option(...jsonFlag('{"host", "pid", "outcome": "stopped" | "killed" | "gone"}'))
    .action(async (name: string, opts: { json?: boolean }) => {
      const cfg = loadConfig();
      const files = agentFiles(cfg, AgentArgsSchema.shape.name.parse(name));
      const running = readLivePidFile(files.pid);
      if (!running) {
        throw new HostCommandError(`host ${name} is not running here`, {
          hint: 'see `ferry host start --help`',
        });
      }
      const how = await stopDaemon(running, files.pid);
      printResult(
        opts.json,
        { host: name, pid: running.pid, outcome: how },
        () => `host ${name} ${how} (pid ${running.pid})`,
      );
    });
}

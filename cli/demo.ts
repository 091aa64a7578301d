// `npm start` (`ferry demo`): the tour of ferry on the embedded stack. It brings the stack up,
// starts four host agents with a dozen emulated guests (and a real QEMU guest where QEMU is
// installed), migrates a few side by side, drains one host while its bars move, then audits the
// event log of what it did: every timeline, and the invariants with zero violations. It leaves
// everything running for `ferry status`. A second run tidies the first run's guests away first;
// `ferry demo stop` (cli/demo-stop.ts) stops what it started.
import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { Client, WorkflowHandle } from '@temporalio/client';
import type { Command } from 'commander';
import type { Redis } from 'ioredis';
import { controllerPid, ensureController } from '../workers/controller/daemon.ts';
import { FerryError } from '../errors/ferry-error.ts';
import { runAudit } from '../events/audit-run.ts';
import { waitForMigrationsInLog } from '../events/log-caught-up.ts';
import { hostStateDir } from '../hosts/agent/identity.ts';
import { HostRegistry } from '../hosts/agent/registration.ts';
import { QEMU_BINARY } from '../hosts/guests/qemu/spec.ts';
import { loadConfig, type Config } from '../infra/config.ts';
import { readLivePidFile } from '../infra/process/pid-file.ts';
import { createRedis } from '../infra/redis/client.ts';
import { DrainMarks } from '../infra/redis/draining.ts';
import { placementOf, releasePlacement } from '../infra/redis/placement.ts';
import { stackUp } from '../infra/stack/stack.ts';
import { connectClient } from '../infra/temporal/connect.ts';
import type { migrate } from '../workflows/migrate.ts';
import { progress } from '../workflows/migration/messages.ts';
import type { MigrationReport } from '../protocol/migration.ts';
import { auditText } from './audit-print.ts';
import { drainWorkflowId, isRunning, startOrAttach } from './cluster-client.ts';
import { followClusterOp } from './cluster-follow.ts';
import { parseLimits } from './cluster-options.ts';
import { describeReport as describeDrain, exitStatus as drainExit } from './drain.ts';
import { startGuestOn } from './guest-start.ts';
import { runHostOperation } from './host-operation.ts';
import { describeReport as describeMigration } from './migrate.ts';
import { startMigration } from './migration-client.ts';
import { MigrationBars, type BarLine } from './migration-bars.ts';
import { demoPlan, DemoOptionsSchema, type DemoPlan } from './demo-plan.ts';
import { describeDemoStop, recordDemoController, stopDemo } from './demo-stop.ts';
import { jsonFlag, printResult } from './output.ts';
import { labForDemo } from '../lab/netns.ts';

export class DemoError extends FerryError {
  readonly code = 'DEMO_FAILED';
}

const CLI = join(import.meta.dirname, 'bin.mjs');

export function registerDemo(program: Command): void {
  const demo = program
    .command('demo')
    .option('--prefix <name>', 'names of the demo hosts and guests start with this', 'demo')
    .option('--address <ip>', 'loopback address of the first demo host (the next three follow)', '127.0.2.1')
    .option('--no-qemu', 'leave out the real QEMU guest even where QEMU is installed')
    .option('--lab', 'run on the lab `ferry lab up` made: its first four hosts, each in its own namespace')
    .description(
      'npm start: the stack, four hosts, a dozen guests, a few migrations, a drain, and the audit of it all',
    )
    .action(async (raw: { prefix: string; address: string; qemu: boolean; lab?: boolean }) => {
      const lab = raw.lab ? await labForDemo(process.env, 4) : undefined;
      if (lab) {
        // The controller this starts (a child process, configured by its environment) must find
        // the lab's stack on the bridge too.
        process.env.FERRY_BIND_HOST = lab.cfg.bindHost;
      }
      const o = DemoOptionsSchema.parse({
        ...raw,
        prefix: lab?.prefix ?? raw.prefix,
        qemu: raw.qemu && existsSync(QEMU_BINARY),
      });
      const plan = demoPlan(o);
      const cfg = lab?.cfg ?? loadConfig();
      const started = Date.now();

      step('bringing the stack up (the first time fetches Temporal and Kafka; later starts take seconds)');
      for (const r of await stackUp(cfg, (l) => console.log(`  ${l}`))) {
        console.log(`  ${r.name.padEnd(8)} ${r.outcome} at ${r.address}`);
      }
      const controller = await ensureController(cfg);
      console.log(
        `  controller ${controller.started ? 'started' : 'already running'} (pid ${controller.pid})`,
      );
      // `ferry demo stop` stops the controller only if the demo started it.
      const controllerRecord = controller.started ? controllerPid(cfg) : undefined;
      if (controllerRecord) recordDemoController(cfg, o.prefix, controllerRecord);

      if (lab) {
        step(`on the lab: ${lab.hosts.map((h) => `${h.name} (${h.netns}, ${h.address})`).join(', ')}`);
      } else {
        step(`starting ${plan.hosts.length} host agents`);
        await Promise.all(plan.hosts.map((h) => startAgent(cfg, h)));
      }

      const redis = createRedis(cfg, 'ferry-demo');
      const client = await connectClient(cfg);
      try {
        await tidyPreviousRun(cfg, redis, client, plan);
        const since = new Date();
        step(
          `starting ${plan.guests.length} guests` +
            (o.qemu ? ' (one of them a real QEMU)' : ' (QEMU is not installed: all emulated)'),
        );
        await startGuests(cfg, redis, plan);

        step(`migrating ${plan.migrations.map((m) => `${m.vm} → ${m.to}`).join(', ')} side by side`);
        const reports = await migrateSideBySide(client, plan);
        for (const r of reports) console.log(`  ${describeMigration(r)}`);

        step(`draining ${plan.drain}: every guest moves elsewhere, at most 5 migrations at once, 2 per host`);
        const { handle } = await startOrAttach(client, {
          type: 'drain',
          // Only to the demo's own hosts: other agents may be up on this stack (tests, drills).
          input: {
            host: plan.drain,
            limits: parseLimits({}),
            destinations: plan.hosts.map((h) => h.name).filter((h) => h !== plan.drain),
          },
        });
        const drain = await followClusterOp(client, handle, {
          bars: process.stderr.isTTY,
          lines: !process.stderr.isTTY,
          what: `drain ${plan.drain}`,
        });
        console.log(`  ${describeDrain(drain)}`);

        step('auditing the event log of this run against the live cluster');
        const ids = [
          ...reports.map((r) => r.migrationId),
          ...drain.guests.flatMap((g) => g.attempts.map((a) => a.migrationId)),
        ];
        const vms = plan.guests.map((g) => g.vm);
        const log = await waitForMigrationsInLog(cfg, { vms, since }, ids);
        if (!log.caughtUp)
          console.log(`  the log still lacks the end of ${log.missing.join(', ')} after 30 s`);
        const audit = await runAudit(cfg, { vms, since });
        console.log(indent(auditText(audit, null)));

        const failures = reports.filter((r) => r.outcome !== 'completed').length + drainExit(drain);
        console.log(
          `\ndone in ${Math.round((Date.now() - started) / 1000)} s: ${audit.violations.length} violations, ` +
            `live state ${audit.matchesLive ? 'matches the log' : 'differs from the log'}.`,
        );
        const tips: [string, string][] = [
          ['npx ferry status', 'hosts, guests, migrations in flight'],
          ['npx ferry events tail', 'the event log as it grows'],
          [
            `npx ferry migrate ${plan.migrations[0]!.vm} --to ${plan.hosts[1]!.name}`,
            'one more migration, with its bar',
          ],
          [`npx ferry audit replay --vm ${plan.guests[0]!.vm}`, "one guest's story"],
          [`npx ferry undrain ${plan.drain}`, `let ${plan.drain} take guests again`],
        ];
        const width = Math.max(...tips.map(([c]) => c.length)) + 3;
        console.log('\neverything is still running; look around:');
        for (const [command, what] of tips) console.log(`  ${command.padEnd(width)}${what}`);
        console.log(
          `stop it all: npx ferry demo stop${o.prefix === 'demo' ? '' : ` --prefix ${o.prefix}`} (add --stack to stop the stack too)`,
        );
        process.exitCode = audit.violations.length > 0 ? 3 : failures > 0 || !audit.matchesLive ? 4 : 0;
      } finally {
        redis.disconnect();
        await client.connection.close();
      }
    });

  // `--prefix` is the demo's own option (commander hands it to the parent wherever it stands).
  demo
    .command('stop')
    .configureHelp({ showGlobalOptions: true })
    .option('--stack', 'also stop the stack (Temporal, Kafka, Redis), as `ferry stack down` does')
    .option(
      ...jsonFlag(
        '{"prefix", "guests": [{"vm", "host", "how"}], "hosts": [{"name", "pid", "outcome"}], "controller", "controllerLeft", "stack"}',
      ),
    )
    .description(
      'stop what the demo started, by pid files: its guests, its host agents, and the controller if it started it (the stack stays up unless --stack); nothing running is not an error',
    )
    .action(async (_opts: unknown, command: Command) => {
      const raw = command.optsWithGlobals<{ prefix: string; stack?: boolean; json?: boolean }>();
      const prefix = DemoOptionsSchema.shape.prefix.parse(raw.prefix);
      const report = await stopDemo(loadConfig(), prefix, { stack: raw.stack === true });
      printResult(raw.json, report, () => describeDemoStop(report));
    });
}

function step(what: string): void {
  console.log(`\n== ${what}`);
}

const indent = (text: string) =>
  text
    .split('\n')
    .map((l) => `  ${l}`)
    .join('\n');

/** `ferry host start --detach`, as a user runs it; an agent of the same name already running is kept. */
async function startAgent(cfg: Config, h: DemoPlan['hosts'][number]): Promise<void> {
  const running = readLivePidFile(join(hostStateDir(cfg.stateDir, h.name), 'agent.pid'));
  if (running) {
    console.log(`  ${h.name} already running (pid ${running.pid})`);
    return;
  }
  const args = ['host', 'start', h.name, '--address', h.address, '--memory', String(h.memoryMiB), '--detach'];
  const out = await new Promise<string>((resolve, reject) => {
    execFile(process.execPath, [CLI, ...args], { timeout: 120_000 }, (err, stdout, stderr) => {
      if (err) reject(new DemoError(`ferry ${args.join(' ')}: ${stderr.trim() || err.message}`));
      else resolve(stdout.trim());
    });
  });
  console.log(`  ${out}`);
}

/** The guests of an earlier run go (wherever they ended up), and the drained host takes guests again. */
async function tidyPreviousRun(cfg: Config, redis: Redis, client: Client, plan: DemoPlan): Promise<void> {
  const drainId = drainWorkflowId(plan.drain);
  if (await isRunning(client, drainId)) {
    console.log(`  an earlier drain of ${plan.drain} still runs: cancelling it`);
    const handle = client.workflow.getHandle(drainId);
    await handle.cancel();
    await handle.result().catch(() => undefined);
  }
  let removed = 0;
  const registry = new HostRegistry(redis);
  for (const g of plan.guests) {
    const host = await placementOf(redis, g.vm);
    if (!host) continue;
    // A guest outlives its agent: removing it needs that agent, or it would run twice.
    if (!(await registry.read(host))) {
      throw new DemoError(`${g.vm}, a guest of an earlier run, is on ${host}, whose agent is down`, {
        hint: `start it again (\`ferry host start ${host} --detach\`) so that the demo can remove the guest, or run \`ferry demo --prefix another\``,
      });
    }
    await runHostOperation(cfg, host, 'killGuest', g.vm, 'tidied by a new npm start').catch(() => undefined);
    await releasePlacement(redis, g.vm, host);
    removed++;
  }
  await new DrainMarks(redis).clear(plan.drain);
  if (removed > 0) console.log(`  removed ${removed} guests of an earlier run`);
}

async function startGuests(cfg: Config, redis: Redis, plan: DemoPlan): Promise<void> {
  const queue = [...plan.guests];
  const worker = async () => {
    for (let g = queue.shift(); g; g = queue.shift()) {
      const { pid } = await startGuestOn(cfg, redis, g);
      console.log(`  ${g.vm.padEnd(24)} on ${g.host} (${g.kind}, ${g.memoryMiB} MiB, pid ${pid})`);
    }
  };
  await Promise.all([worker(), worker(), worker()]);
}

/** The plan's migrations at once, each with its bar (a line per migration when not on a terminal). */
async function migrateSideBySide(client: Client, plan: DemoPlan): Promise<MigrationReport[]> {
  const running = new Map<string, { label: string; handle: WorkflowHandle<typeof migrate> }>();
  const bySource = new Map(plan.guests.map((g) => [g.vm, g.host]));
  for (const m of plan.migrations) {
    const id = `m-${m.vm}-${randomUUID().slice(0, 8)}`;
    const handle = await startMigration(client, id, {
      vm: m.vm,
      source: bySource.get(m.vm)!,
      destination: m.to,
    });
    running.set(id, { label: `${m.vm} → ${m.to}`, handle });
  }
  const results = new Map<string, MigrationReport>();
  const ends = [...running].map(([id, r]) => r.handle.result().then((rep) => results.set(id, rep)));
  const bars = process.stderr.isTTY ? new MigrationBars() : undefined;
  const all = Promise.all(ends);
  let done = false;
  void all.finally(() => (done = true)).catch(() => undefined);
  while (!done && bars) {
    const lines = new Map<string, BarLine>();
    for (const [id, r] of running) {
      if (results.has(id)) continue;
      lines.set(id, { label: r.label, progress: await r.handle.query(progress).catch(() => null) });
    }
    bars.sync(lines);
    await Promise.race([all.catch(() => undefined), new Promise((res) => setTimeout(res, 250))]);
  }
  bars?.stop();
  await all;
  return [...running.keys()].map((id) => results.get(id)!);
}

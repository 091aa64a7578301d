// `ferry demo stop [--prefix P] [--stack] [--json]`: stops what `ferry demo` started, and only
// that, by pid files (never by process name): the plan's guests (through their agent while it runs,
// so their placements, leases and events are settled as `ferry guest kill` settles them; by their
// pid file when their agent is down, which the agent's recovery settles when it next starts), then
// the plan's host agents, then the controller if the demo started it (one that ran before the demo
// is left running). The stack stays up unless --stack. Nothing running is not an error: a second
// run says so and exits 0.
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { z } from 'zod';
import { hostStateDir } from '../hosts/agent/identity.ts';
import { HostRegistry } from '../hosts/agent/registration.ts';
import type { Config } from '../infra/config.ts';
import { stopDaemon } from '../infra/process/daemon.ts';
import { readLivePidFile, type PidRecord } from '../infra/process/pid-file.ts';
import { createRedis } from '../infra/redis/client.ts';
import { DrainMarks } from '../infra/redis/draining.ts';
import { placementOf, releasePlacement } from '../infra/redis/placement.ts';
import { stackDown, type DownOutcome } from '../infra/stack/stack.ts';
import { controllerPid, stopController } from '../workers/controller/daemon.ts';
import { demoPlan } from './demo-plan.ts';
import { runHostOperation } from './host-operation.ts';

export interface DemoStopReport {
  prefix: string;
  /** The demo's guests that ran, and how each was stopped. */
  guests: { vm: string; host: string; how: 'killed by its agent' | 'killed by its pid file (agent down)' }[];
  hosts: { name: string; pid: number; outcome: 'stopped' | 'killed' | 'gone' }[];
  /** The controller the demo started, if it still ran; null when it did not start one (or none runs). */
  controller: { pid: number; outcome: 'stopped' | 'killed' | 'gone' } | null;
  /** A controller that ran before the demo, left running; null when there is none. */
  controllerLeft: { pid: number } | null;
  /** With --stack: what `ferry stack down` did to each service; null without it. */
  stack: { name: string; outcome: DownOutcome }[] | null;
}

const DemoRecordSchema = z.object({
  controller: z.object({
    pid: z.number(),
    startTime: z.string(),
    command: z.string(),
    startedAt: z.string(),
  }),
});

/** Where a demo run notes what it started that others may also start (the controller). */
const recordPath = (cfg: Config, prefix: string) => join(cfg.stateDir, 'demo', `${prefix}.json`);

/** `ferry demo` notes the controller it started, so that `demo stop` stops that one and no other. */
export function recordDemoController(cfg: Config, prefix: string, controller: PidRecord): void {
  mkdirSync(join(cfg.stateDir, 'demo'), { recursive: true });
  writeFileSync(recordPath(cfg, prefix), JSON.stringify({ controller }) + '\n');
}

function demoController(cfg: Config, prefix: string): PidRecord | undefined {
  const path = recordPath(cfg, prefix);
  if (!existsSync(path)) return undefined;
  const parsed = DemoRecordSchema.safeParse(JSON.parse(readFileSync(path, 'utf8')));
  return parsed.success ? parsed.data.controller : undefined;
}

export async function stopDemo(
  cfg: Config,
  prefix: string,
  opts: { stack: boolean },
): Promise<DemoStopReport> {
  // The names are fixed by the prefix (the address and QEMU choice change no name).
  const plan = demoPlan({ prefix, address: '127.0.2.1', qemu: true });
  const report: DemoStopReport = {
    prefix,
    guests: [],
    hosts: [],
    controller: null,
    controllerLeft: null,
    stack: null,
  };
  const agents = new Map(
    plan.hosts.map((h) => [h.name, readLivePidFile(join(hostStateDir(cfg.stateDir, h.name), 'agent.pid'))]),
  );
  // A guest's process outlives its agent; its pid file is in the host's state dir, where it runs.
  const running = plan.guests.flatMap((g) =>
    plan.hosts.flatMap((h) => {
      const pidPath = join(hostStateDir(cfg.stateDir, h.name), 'guests', g.vm, 'guest.pid');
      const pid = readLivePidFile(pidPath);
      return pid ? [{ vm: g.vm, host: h.name, pid, pidPath }] : [];
    }),
  );
  const byAgent = running.filter((g) => agents.get(g.host) !== undefined);
  const byPid = running.filter((g) => agents.get(g.host) === undefined);

  const redis =
    running.length > 0 || [...agents.values()].some((a) => a !== undefined)
      ? createRedis(cfg, 'ferry-demo-stop')
      : undefined;
  try {
    if (redis) {
      const registry = new HostRegistry(redis);
      await Promise.all(
        byAgent.map(async (g) => {
          if (!(await registry.read(g.host))) {
            byPid.push(g); // its agent runs but is not registered (Redis lost it?): by pid file
            return;
          }
          await runHostOperation(cfg, g.host, 'killGuest', g.vm, 'stopped by ferry demo stop');
          report.guests.push({ vm: g.vm, host: g.host, how: 'killed by its agent' });
        }),
      );
    }
    // Before anything else needs Redis: these stop even when the stack is down.
    for (const g of byPid) {
      await stopDaemon(g.pid, g.pidPath, 5000);
      report.guests.push({ vm: g.vm, host: g.host, how: 'killed by its pid file (agent down)' });
    }
    if (redis) {
      for (const g of report.guests) {
        if ((await placementOf(redis, g.vm)) === g.host) await releasePlacement(redis, g.vm, g.host);
      }
      // The demo drains its first host and leaves the mark on; it goes with the demo.
      await new DrainMarks(redis).clear(plan.drain);
    }
  } finally {
    redis?.disconnect();
  }
  report.guests.sort((a, b) => (a.vm < b.vm ? -1 : 1));

  for (const [name, pid] of agents) {
    if (!pid) continue;
    const outcome = await stopDaemon(pid, join(hostStateDir(cfg.stateDir, name), 'agent.pid'));
    report.hosts.push({ name, pid: pid.pid, outcome });
  }

  const ours = demoController(cfg, prefix);
  const live = controllerPid(cfg);
  if (ours && live && live.pid === ours.pid && live.startTime === ours.startTime) {
    const { outcome } = await stopController(cfg);
    if (outcome !== 'not running') report.controller = { pid: live.pid, outcome };
  } else if (live) {
    report.controllerLeft = { pid: live.pid };
  }
  rmSync(recordPath(cfg, prefix), { force: true });

  if (opts.stack) report.stack = await stackDown(cfg, () => undefined);
  return report;
}

export function describeDemoStop(r: DemoStopReport): string {
  const out: string[] = [];
  if (r.guests.length === 0 && r.hosts.length === 0 && r.controller === null) {
    out.push(`nothing the demo (prefix ${r.prefix}) started is running`);
  }
  for (const g of r.guests) out.push(`guest ${g.vm} on ${g.host}: ${g.how}`);
  for (const h of r.hosts) out.push(`host ${h.name}: ${h.outcome} (pid ${h.pid})`);
  if (r.controller)
    out.push(`controller: ${r.controller.outcome} (pid ${r.controller.pid}), the demo started it`);
  if (r.controllerLeft) {
    out.push(
      `controller: left running (pid ${r.controllerLeft.pid}), the demo did not start it (\`ferry controller stop\` stops it)`,
    );
  }
  if (r.stack) out.push(...r.stack.map((s) => `${s.name}: ${s.outcome}`));
  else out.push('the stack is left as it is (`ferry demo stop --stack` stops it too)');
  return out.join('\n');
}

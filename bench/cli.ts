// `npm run bench -- cli [--json] [runs=20]`: how long a `ferry` command takes from the shell, as a
// user feels it. p50 and p90 of `runs` runs each of `ferry --help`, `ferry status --once` (stack
// up, no hosts required) and `ferry stack status`, next to a bare `node -e 0` measured in the same
// run: node's own start is the floor no CLI written for it can go under, so each command is also
// given as its time above that floor. Then how long an agent takes to come up (`ferry host start
// --detach`, 5 runs). The build is made first, so no run pays for compiling.
import { execFile } from 'node:child_process';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { ensureBuilt, ROOT } from '../infra/build/compiled.mjs';
import { loadConfig } from '../infra/config.ts';
import { stackUp } from '../infra/stack/stack.ts';
import { z } from 'zod';
import { uniqueName } from '../lab/stack.ts';
import type { BenchContext, Figures } from './run.ts';

const run = promisify(execFile);
const BIN = join(ROOT, 'cli', 'bin.mjs');

export default async function cliBench(ctx: BenchContext): Promise<Figures> {
  const runs = parseRuns(ctx.args);
  await stackUp(loadConfig(), () => undefined);
  await ensureBuilt();
  const commands: Record<string, string[]> = {
    node: ['-e', '0'],
    help: [BIN, '--help'],
    status: [BIN, 'status', '--once'],
    stackStatus: [BIN, 'stack', 'status'],
  };
  const figures: Figures = { runs };
  for (const [name, args] of Object.entries(commands)) {
    await timeOnce(args); // warm the page cache
    const times: number[] = [];
    // Interleaving would spread a noisy neighbour evenly, but each command's runs back to back is
    // what a user typing it repeatedly sees; the floor is re-measured in the same run either way.
    for (let i = 0; i < runs; i++) times.push(await timeOnce(args));
    times.sort((a, b) => a - b);
    const p50 = Math.round(quantile(times, 0.5));
    const p90 = Math.round(quantile(times, 0.9));
    figures[`${name}Ms`] = p50;
    figures[`${name}P90Ms`] = p90;
    ctx.log(
      `${(name === 'node' ? 'node -e 0' : `ferry ${args.slice(1).join(' ')}`).padEnd(28)} p50 ${p50} ms  p90 ${p90} ms`,
    );
  }
  const floor = figures.nodeMs as number;
  for (const name of ['help', 'status', 'stackStatus']) {
    figures[`${name}AboveNodeMs`] = (figures[`${name}Ms`] as number) - floor;
  }
  // An agent: `ferry host start --detach` returns once the agent has registered in Redis (its
  // worker polling, its data plane listening); then it is stopped. Fewer runs: each is a process.
  const agentTimes: number[] = [];
  for (let i = 0; i < AGENT_RUNS; i++) {
    const name = uniqueName('bench-cli');
    const start = performance.now();
    await run(process.execPath, [BIN, 'host', 'start', name, '--address', AGENT_ADDRESS, '--detach'], {
      timeout: 120_000,
    });
    agentTimes.push(performance.now() - start);
    await run(process.execPath, [BIN, 'host', 'stop', name], { timeout: 60_000 });
  }
  agentTimes.sort((a, b) => a - b);
  figures.agentStartMs = Math.round(quantile(agentTimes, 0.5));
  figures.agentStartMaxMs = Math.round(agentTimes.at(-1)!);
  ctx.log(
    `${'ferry host start --detach'.padEnd(28)} p50 ${figures.agentStartMs} ms  max ${figures.agentStartMaxMs} ms`,
  );
  return figures;
}

const AGENT_RUNS = 5;
const AGENT_ADDRESS = '127.0.0.46';

async function timeOnce(args: string[]): Promise<number> {
  const start = performance.now();
  await run(process.execPath, args, { timeout: 60_000, maxBuffer: 1 << 22 });
  return performance.now() - start;
}

function quantile(sorted: number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
}

const RunsSchema = z.coerce.number().int().min(1).max(1000);

/** `runs=N` (1-1000, default 20); anything else is refused with one line. */
function parseRuns(args: string[]): number {
  const raw = args.find((a) => a.startsWith('runs='))?.slice('runs='.length) ?? '20';
  const unknown = args.find((a) => !a.startsWith('runs='));
  if (unknown !== undefined)
    throw new z.ZodError([
      { code: 'custom', path: [unknown], message: 'bench cli takes runs=N only', input: unknown },
    ]);
  return RunsSchema.parse(raw);
}

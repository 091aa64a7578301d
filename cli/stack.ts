// `ferry stack up|down|status|reset|logs`: the local Temporal, Kafka and Redis.
import { watch } from 'node:fs';
import type { Command } from 'commander';
import { z } from 'zod';
import { loadConfig } from '../infra/config.ts';
import { tailFile } from '../infra/process/log-tail.ts';
import { SECURE_SERVICE_NAMES, SERVICE_NAMES } from '../infra/stack/service.ts';
import {
  serviceLogPath,
  stackDown,
  stackReset,
  stackServices,
  stackStatus,
  stackUp,
} from '../infra/stack/stack.ts';

const say = (line: string) => console.log(line);
/** The name column: as wide as the longest name shown (temporal-front with security on). */
const nameWidth = (rows: { name: string }[]) => Math.max(8, ...rows.map((r) => r.name.length));

export function registerStack(program: Command): void {
  const stack = program
    .command('stack')
    .description('start, stop and inspect the local Temporal, Kafka and Redis');

  stack
    .command('up')
    .description('provision (first time) and start every service that is not already answering')
    .option('--quiet', 'print only problems')
    .option('--json', 'print one JSON object with each service and what was done')
    .action(async (opts: { quiet?: boolean; json?: boolean }) => {
      const cfg = loadConfig();
      const log = opts.quiet || opts.json ? () => undefined : say;
      const results = await stackUp(cfg, log);
      if (opts.json) return say(JSON.stringify({ services: results }));
      if (opts.quiet) return;
      for (const r of results) {
        const pid = r.pid === undefined ? '' : ` pid ${r.pid}`;
        say(
          `${r.name.padEnd(nameWidth(results))} ${r.outcome.padEnd(15)} ${r.address}${pid} (${r.seconds.toFixed(1)}s)`,
        );
      }
      say(`state: ${cfg.stateDir}   cache: ${cfg.cacheDir}`);
    });

  stack
    .command('down')
    .description('stop the processes `stack up` started (by pid); state is kept')
    .option('--json', 'print one JSON object: {"services": [{"name", "outcome"}]}')
    .action(async (opts: { json?: boolean }) => {
      const results = await stackDown(loadConfig(), opts.json ? () => undefined : say);
      if (opts.json) return say(JSON.stringify({ services: results }));
      for (const r of results) say(`${r.name.padEnd(nameWidth(results))} ${r.outcome}`);
    });

  stack
    .command('status')
    .description('per service: address, pid, version and whether it answers a real request')
    .option('--json', 'print one JSON object')
    .action(async (opts: { json?: boolean }) => {
      const statuses = await stackStatus(loadConfig());
      if (opts.json) return say(JSON.stringify({ services: statuses }));
      for (const s of statuses) {
        const who =
          s.owner === 'ferry' ? `pid ${s.pid}` : s.owner === 'external' ? 'external' : 'not running';
        const mark = s.answers ? 'answers' : 'DOWN';
        say(
          `${s.name.padEnd(nameWidth(statuses))} ${mark.padEnd(8)} ${s.address.padEnd(16)} ${who.padEnd(12)} ${s.version ?? '-'}`,
        );
        say(`${''.padEnd(nameWidth(statuses) + 1)}${s.detail}`);
      }
      if (statuses.some((s) => !s.answers)) process.exitCode = 1;
    });

  stack
    .command('reset')
    .description('stop what ferry started and wipe the state dir (the download cache stays)')
    .option('--json', 'print one JSON object: {"services": [{"name", "outcome"}], "wiped": the state dir}')
    .action(async (opts: { json?: boolean }) => {
      const cfg = loadConfig();
      if (!opts.json) return stackReset(cfg, say);
      // The same steps as stackReset, quietly, keeping what each service did.
      const services = await stackDown(cfg, () => undefined);
      await stackReset(cfg, () => undefined);
      say(JSON.stringify({ services, wiped: cfg.stateDir }));
    });

  stack
    .command('logs')
    .description("print a service's log (all three when no service is named)")
    .argument(
      '[service]',
      `one of ${SERVICE_NAMES.join(', ')} (with security on: ${SECURE_SERVICE_NAMES.join(', ')})`,
    )
    .option('-n, --lines <n>', 'lines to print', '40')
    .option('-f, --follow', 'keep printing as the log grows')
    .action(async (service: string | undefined, opts: { lines: string; follow?: boolean }) => {
      const name = z
        .enum([...SERVICE_NAMES, ...SECURE_SERVICE_NAMES])
        .optional()
        .parse(service);
      const lines = z.coerce.number().int().positive().parse(opts.lines);
      const cfg = loadConfig();
      const names = name ? [name] : stackServices(cfg).map((s) => s.name);
      for (const n of names) {
        const path = serviceLogPath(cfg, n);
        if (names.length > 1) say(`==> ${n} (${path}) <==`);
        say(tailFile(path, lines) || '(no log yet)');
      }
      if (opts.follow && name) await follow(serviceLogPath(cfg, name));
    });
}

async function follow(path: string): Promise<never> {
  const { open } = await import('node:fs/promises');
  const file = await open(path, 'r');
  let position = (await file.stat()).size;
  const pump = async () => {
    const { size } = await file.stat();
    if (size <= position) return;
    const buf = Buffer.alloc(size - position);
    await file.read(buf, 0, buf.length, position);
    position = size;
    process.stdout.write(buf);
  };
  watch(path, () => void pump());
  return new Promise<never>(() => undefined);
}

// `npm run bench -- NAME [--json]`: runs one benchmark; with --json the last line printed is
// one JSON object `{"bench": NAME, ...figures}`.
import { parseArgs } from 'node:util';
import { reportAndExit } from '../errors/report.ts';

export interface BenchContext {
  /** Prints a human line (suppressed with --json, so the JSON stays the last line). */
  log(line: string): void;
  /** Extra arguments after the name, for benchmarks that take options. */
  args: string[];
}

/** null: a figure this run did not measure (the bench says why in another field). */
export type Figures = Record<string, number | string | boolean | object | null>;
type Bench = (ctx: BenchContext) => Promise<Figures>;

const benches: Record<string, () => Promise<Bench>> = {
  cli: async () => (await import('./cli.ts')).default,
  history: async () => (await import('./history.ts')).default,
  stack: async () => (await import('./stack.ts')).default,
  savevm: async () => (await import('./savevm.ts')).default,
  tunnel: async () => (await import('./tunnel.ts')).default,
  drain: async () => (await import('./drain.ts')).default,
  replay: async () => (await import('./replay.ts')).default,
  overhead: async () => (await import('./overhead.ts')).default,
  recovery: async () => (await import('./recovery.ts')).default,
  scale: async () => (await import('./scale.ts')).default,
  security: async () => (await import('./security.ts')).default,
  lab: async () => (await import('./lab.ts')).default,
};

try {
  const { values, positionals } = parseArgs({
    options: { json: { type: 'boolean', default: false } },
    allowPositionals: true,
    strict: false,
  });
  const [name, ...rest] = positionals;
  const load = name === undefined ? undefined : benches[name];
  if (!name || !load) {
    process.stderr.write(
      `bench: unknown benchmark ${JSON.stringify(name ?? '')}; choose one of: ${Object.keys(benches).join(', ')}\n`,
    );
    process.exit(2);
  }
  const json = values.json === true;
  const bench = await load();
  const figures = await bench({ log: (line) => (json ? undefined : console.log(line)), args: rest });
  if (json) console.log(JSON.stringify({ bench: name, ...figures }));
  else console.log(JSON.stringify(figures, null, 2));
} catch (err) {
  reportAndExit(err);
}

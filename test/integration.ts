// Runs the integration tests (test/*.test.ts) against the real stack in two stages: first every file
// that shares the stack peacefully, several at once (most of their time is spent waiting on leases,
// heartbeats and timeouts, not on the CPU), then, one at a time, the files that declare themselves
// exclusive with a `// exclusive: <why>` line: they stop or restart a shared service, or use the
// operator's own controller, or look at the whole cluster, so nothing else may run beside them.
//
// Usage: node --import tsx test/integration.ts [node --test options...]
// FERRY_TEST_CONCURRENCY sets how many shared files run at once (default 3).
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { basename, join } from 'node:path';

const dir = import.meta.dirname;
const EXCLUSIVE = /^\/\/ exclusive: \S/m;

const concurrency = Number(process.env.FERRY_TEST_CONCURRENCY ?? 3);
if (!Number.isInteger(concurrency) || concurrency < 1) {
  console.error(
    `FERRY_TEST_CONCURRENCY must be a whole number of at least 1, not "${process.env.FERRY_TEST_CONCURRENCY}"`,
  );
  process.exit(2);
}

const files = readdirSync(dir)
  .filter((f) => f.endsWith('.test.ts'))
  .sort()
  .map((f) => join(dir, f));
const exclusive = files.filter((f) => EXCLUSIVE.test(readFileSync(f, 'utf8')));

/**
 * The shared files that take longest (a minute or more each on the real stack) start first, so the
 * slots end together instead of one long file running alone at the end. Order only: a file missing
 * from this list, or a stale entry, costs time, never correctness.
 */
const LONGEST_FIRST = [
  'drills',
  'drill-links',
  'drain',
  'drain-faults',
  'audit-replay',
  'migrate-dead-host',
  'migrate-compensation',
  'agent-migration-faults',
  'drill-redis-loss',
  'migrate-restarts',
  'agent-recovery',
  'migration-cli',
  'rebalance-faults',
];
const rank = (f: string) => {
  const i = LONGEST_FIRST.indexOf(basename(f, '.test.ts'));
  return i === -1 ? LONGEST_FIRST.length : i;
};
const shared = files.filter((f) => !exclusive.includes(f)).sort((a, b) => rank(a) - rank(b));

function run(stage: string, list: string[], n: number): number {
  console.log(`# integration: ${stage}: ${list.length} files, ${n} at a time`);
  const r = spawnSync(
    process.execPath,
    [
      '--import',
      'tsx',
      '--test',
      `--test-concurrency=${n}`,
      '--test-timeout=600000',
      ...process.argv.slice(2),
      ...list,
    ],
    { stdio: 'inherit' },
  );
  if (r.error) throw r.error;
  return r.status ?? 1;
}

// The exclusive stage runs even when the shared one failed, so one run shows every failure.
const sharedStatus = run('shared', shared, concurrency);
const exclusiveStatus = run('exclusive', exclusive, 1);
process.exit(sharedStatus || exclusiveStatus);

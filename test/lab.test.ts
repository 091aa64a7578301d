// exclusive: it makes a bridge, network namespaces and veth links, binds a stack of its own to the bridge, and takes links down
// The whole path across a lab of four hosts, each in its own network namespace (docs/lab.md):
// the namespaces themselves, a host name claimed twice, a migration, a drain, a real partition
// healed, a partition drill, the audit, and `lab down` leaving nothing behind. Root only: the
// test fails (never skips) without it. Clean-up is by the lab's state file, also on failure.
import assert from 'node:assert/strict';
import { execFile, execFileSync } from 'node:child_process';
import { mkdtempSync, readlinkSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Redis } from 'ioredis';
import { buildCatalog, findDrill } from '../drills/catalog.ts';
import { partitionFaults } from '../drills/partition.ts';
import { runDrill } from '../drills/run.ts';
import { HostRegistry } from '../hosts/agent/registration.ts';
import { runnable } from '../infra/build/compiled.mjs';
import type { Config } from '../infra/config.ts';
import { createLogger } from '../infra/logging/logger.ts';
import { isSameProcessAlive, readLivePidFile, type PidRecord } from '../infra/process/pid-file.ts';
import { createRedis } from '../infra/redis/client.ts';
import { placementOf } from '../infra/redis/placement.ts';
import { ferryWithEnv } from '../lab/cli.ts';
import { labAgentEnv, labAgentFiles, labIdentityDir } from '../lab/netns-host.ts';
import { labDown, labUp, setLabLink } from '../lab/netns.ts';
import { privateLabEnv } from '../lab/netns-env.ts';
import type { LabHost, LabState } from '../lab/netns-state.ts';
import type { MigrationReport } from '../protocol/migration.ts';
import { controllerPid } from '../workers/controller/daemon.ts';

const root = mkdtempSync(join(tmpdir(), 'ferry-lab-test-'));
let state: LabState;
let cfg: Config;
let redis: Redis;
/** What every `ferry` child process and the drill's controller are pointed at: this test's lab. */
let env: Record<string, string>;
const host = (i: number): LabHost => state.hosts[i - 1]!;
const ferry = (...args: string[]) => ferryWithEnv(env, 240_000, ...args);

async function until<T>(what: string, ms: number, probe: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`${what}: not within ${ms / 1000} s`);
    await sleep(250);
  }
}

before(async () => {
  assert.equal(process.getuid?.(), 0, 'the lab test needs root (network namespaces, veth links, a bridge)');
  // process.env itself: the drill's controller is started with it.
  Object.assign(process.env, await privateLabEnv(root));
  const up = await labUp(process.env, { hosts: 4, prefix: 'lt', memoryMiB: 2048 }, () => undefined);
  state = up.state;
  cfg = up.cfg;
  process.env.FERRY_BIND_HOST = state.bridgeAddress;
  env = Object.fromEntries(
    Object.entries(process.env).filter((e): e is [string, string] => e[0].startsWith('FERRY_') && !!e[1]),
  );
  redis = createRedis(cfg, 'test-lab');
});

after(async () => {
  redis?.disconnect();
  await labDown(process.env, () => undefined);
  rmSync(root, { recursive: true, force: true });
});

test('lab - each host has its own namespace, address and state dir, and no route off the machine', async () => {
  const registry = new HostRegistry(redis);
  const ours = readlinkSync('/proc/self/ns/net');
  const seen = new Set<string>();
  for (const h of state.hosts) {
    const addrs = execFileSync('ip', ['-n', h.netns, '-4', '-o', 'addr', 'show'], { encoding: 'utf8' });
    const inet = [...addrs.matchAll(/inet (\S+)\//g)].map((m) => m[1]).sort();
    assert.deepEqual(
      inet,
      ['127.0.0.1', h.address].sort(),
      `${h.name} has only loopback and its lab address`,
    );
    const routes = execFileSync('ip', ['-n', h.netns, 'route', 'show'], { encoding: 'utf8' })
      .trim()
      .split('\n');
    assert.deepEqual(routes.length, 1, `${h.name}: one route, the lab's /24: ${routes.join('; ')}`);
    assert.match(routes[0]!, /^10\.77\.0\.0\/24 dev ferryp\d+/);
    assert.throws(
      () => execFileSync('ip', ['-n', h.netns, 'route', 'get', '1.1.1.1'], { stdio: 'pipe' }),
      /unreachable/i,
      'nothing is routed off the machine',
    );
    const agent = readLivePidFile(labAgentFiles(h).pid);
    assert.ok(agent, `${h.name}'s agent runs`);
    const ns = readlinkSync(`/proc/${agent.pid}/ns/net`);
    assert.notEqual(ns, ours, `${h.name}'s agent runs in a namespace of its own`);
    assert.ok(!seen.has(ns), 'no two agents share a namespace');
    seen.add(ns);
    assert.equal((await registry.read(h.name))?.address, h.address, 'registered at its lab address');
    assert.equal(statSync(h.stateDir).mode & 0o777, 0o700, 'its state dir is private');
    assert.equal(
      statSync(join(h.stateDir, 'cluster.secret')).mode & 0o077,
      0,
      'its copy of the secret is private',
    );
  }
});

test('lab - a second agent claiming a live host name from another namespace is refused with one line', async () => {
  const agentMain = await runnable(import.meta.url, '../workers/agent/main.ts');
  const impostor: LabHost = { ...host(2), name: host(1).name, stateDir: join(root, 'impostor') };
  const r = await new Promise<{ code: number | null; stderr: string }>((resolve) => {
    const child = execFile(
      'ip',
      [
        'netns',
        'exec',
        host(2).netns,
        process.execPath,
        agentMain,
        '--name',
        host(1).name,
        '--address',
        host(2).address,
      ],
      {
        // With security on it even holds lt-1's certificate (stolen): the live claim still wins.
        env: {
          ...labAgentEnv(cfg, impostor),
          ...(cfg.security.enabled ? { FERRY_IDENTITY_DIR: labIdentityDir(host(1)) } : {}),
        },
        timeout: 60_000,
      },
      (_err, _stdout, stderr) => resolve({ code: child.exitCode, stderr }),
    );
  });
  assert.notEqual(r.code, 0);
  const lines = r.stderr.trim().split('\n');
  assert.equal(lines.length, 1, `one line: ${r.stderr}`);
  assert.match(
    lines[0]!,
    new RegExp(`host name ${host(1).name} is held by a live agent of another identity`),
  );
  assert.equal(
    (await new HostRegistry(redis).read(host(1).name))?.address,
    host(1).address,
    'the first keeps it',
  );
});

test('lab - a guest migrates across namespaces with its memory intact', async () => {
  const start = await ferry(
    'guest',
    'start',
    'lab-vm-1',
    '--host',
    host(1).name,
    '--memory',
    '64',
    '--dirty-rate',
    '300',
  );
  assert.equal(start.status, 0, start.stderr);
  const m = await ferry('migrate', 'lab-vm-1', '--to', host(2).name, '--json');
  assert.equal(m.status, 0, m.stderr);
  const report = JSON.parse(m.stdout) as MigrationReport;
  assert.equal(report.outcome, 'completed');
  assert.equal(report.runsOn, host(2).name);
  assert.ok(report.digests.source && report.digests.source === report.digests.destination, 'memory equal');
  assert.equal(await placementOf(redis, 'lab-vm-1'), host(2).name);
});

test('lab - a drain moves every guest off a host onto the other hosts', async () => {
  for (const vm of ['lab-vm-2', 'lab-vm-3']) {
    const r = await ferry('guest', 'start', vm, '--host', host(1).name, '--memory', '32');
    assert.equal(r.status, 0, r.stderr);
  }
  const d = await ferry('drain', host(1).name, '--to', `${host(2).name},${host(3).name}`);
  assert.equal(d.status, 0, d.stderr);
  for (const vm of ['lab-vm-2', 'lab-vm-3']) {
    assert.ok([host(2).name, host(3).name].includes((await placementOf(redis, vm)) ?? ''), `${vm} moved`);
  }
  assert.equal((await ferry('undrain', host(1).name)).status, 0);
});

test('lab - a partitioned host drops out of the cluster and is back once its link is healed', async () => {
  const registry = new HostRegistry(redis);
  const cut = host(4);
  setLabLink(process.env, cut.name, 'down');
  try {
    await until(`${cut.name} seen down`, 20_000, async () =>
      (await registry.read(cut.name)) ? undefined : true,
    );
    // The stack itself is out of its reach: a connection from inside its namespace fails.
    assert.throws(() =>
      execFileSync(
        'ip',
        [
          'netns',
          'exec',
          cut.netns,
          process.execPath,
          '-e',
          connectScript(state.bridgeAddress, cfg.redis.port),
        ],
        {
          stdio: 'pipe',
          timeout: 20_000,
        },
      ),
    );
  } finally {
    setLabLink(process.env, cut.name, 'up');
  }
  await until(`${cut.name} back`, 30_000, async () => ((await registry.read(cut.name)) ? true : undefined));
  const m = await ferry('migrate', 'lab-vm-1', '--to', cut.name, '--json');
  assert.equal(m.status, 0, m.stderr);
  assert.equal((JSON.parse(m.stdout) as MigrationReport).runsOn, cut.name, 'the healed host takes a guest');
  assert.equal((await ferry('guest', 'kill', 'lab-vm-1')).status, 0);
});

test('lab - a drill: the destination partitioned during Perform (its link down), healed, the invariants hold', async () => {
  const drill = findDrill(buildCatalog(partitionFaults()), 'partition-destination@perform');
  assert.ok(drill);
  const log = createLogger('lab-drill', 'warn');
  // Two hosts with no other guest: the verdict counts every guest process on the drill's hosts.
  const result = await runDrill(cfg, log, drill, { lab: [host(4), host(1)] });
  assert.equal(result.passed, true, `${result.name}: ${result.why ?? ''}`);
  assert.ok(
    result.downMs !== undefined && result.downMs >= 20_000,
    'the link was down longer than the leases',
  );
});

test('lab - the audit of everything the lab did finds no violation and matches the live state', async () => {
  // The hosts' outboxes reach Kafka within a few seconds of their last event (a healed host's too).
  const audit = await until('a clean audit', 60_000, async () => {
    const r = await ferry('audit', 'replay', '--json');
    return r.status === 0 ? r : undefined;
  });
  const report = JSON.parse(audit.stdout) as {
    violations: unknown[];
    matchesLive: boolean;
    migrations: number;
  };
  assert.deepEqual(report.violations, []);
  assert.equal(report.matchesLive, true);
  assert.ok(report.migrations >= 5, `the run's migrations are in the log (${report.migrations})`);
});

test('lab - down removes every namespace, link, process and address it made, and nothing else', async () => {
  const agents = state.hosts
    .map((h) => readLivePidFile(labAgentFiles(h).pid))
    .filter((r): r is PidRecord => !!r);
  assert.equal(agents.length, state.hosts.length);
  const controller = controllerPid(cfg);
  assert.ok(controller, "`ferry migrate` started the controller of the lab's state dir");
  const before = execFileSync('ip', ['-o', 'link', 'show'], { encoding: 'utf8' })
    .split('\n')
    .filter((l) => !/ferry/.test(l)).length;
  const down = await labDown(process.env, () => undefined);
  assert.equal(down.hosts, 4);
  assert.equal(down.agents, 4);
  assert.ok(
    agents.every((a) => !isSameProcessAlive(a)),
    'every agent is gone',
  );
  const netns = execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' });
  for (const h of state.hosts) assert.ok(!netns.includes(h.netns), `${h.netns} removed`);
  const links = execFileSync('ip', ['-o', 'link', 'show'], { encoding: 'utf8' });
  assert.doesNotMatch(links, /ferryv\d|ferrybr0/, 'links and bridge removed');
  assert.equal(
    links.split('\n').filter((l) => !/ferry/.test(l)).length,
    before,
    "the machine's own links untouched",
  );
  assert.doesNotMatch(execFileSync('ip', ['-4', '-o', 'addr'], { encoding: 'utf8' }), /10\.77\.0\./);
  assert.equal((await labDown(process.env, () => undefined)).hosts, 0, 'a second down has nothing to do');
});

/** A node one-liner that exits 0 if it can connect to host:port within 3 s, 1 otherwise. */
function connectScript(h: string, port: number): string {
  return `const s=require('net').connect(${port},'${h}',()=>process.exit(0));s.on('error',()=>process.exit(1));setTimeout(()=>process.exit(1),3000)`;
}

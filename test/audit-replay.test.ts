// Replay equals live: after a mixed run of real migrations (one completed, one refused by a
// destination short of memory, one aborted during Perform) the audit, scoped to this test's VMs
// (the shared log holds every other test's history too), finds no violation and the state it
// rebuilds from the log matches Redis; the same after the guests are killed and the hosts stopped.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { runAudit } from '../events/audit-run.ts';
import type { Config } from '../infra/config.ts';
import type { MigrationReport } from '../protocol/migration.ts';
import { ferry } from '../lab/cli.ts';
import { startTestController, type TestController } from '../lab/migrate.ts';
import { realStack, uniqueName } from '../lab/stack.ts';

const [hostA, hostB, small] = [uniqueName('host'), uniqueName('host'), uniqueName('host')];
const hosts = [hostA, hostB, small];
const vms: readonly [string, string, string] = [uniqueName('vm'), uniqueName('vm'), uniqueName('vm')];
let cfg: Config;
let ctl: TestController | undefined;
const reports: MigrationReport[] = [];

before(async () => {
  cfg = await realStack();
  for (const [h, ip, mem] of [
    [hostA, '127.0.0.50', '1024'],
    [hostB, '127.0.0.51', '1024'],
    [small, '127.0.0.52', '64'],
  ] as const) {
    const r = await ferry('host', 'start', h, '--address', ip, '--memory', mem, '--detach');
    assert.equal(r.status, 0, r.stderr);
  }
  ctl = await startTestController(cfg);
});

after(async () => {
  await ctl?.stop();
  for (const vm of vms) await ferry('guest', 'kill', vm);
  for (const h of hosts) await ferry('host', 'stop', h);
});

interface AuditJson {
  events: number;
  migrations: number;
  violations: { check: string; message: string }[];
  matchesLive: boolean;
  differences: { message: string }[];
  outcomes: Record<string, number>;
  histories?: { replayed: number; failures: unknown[] };
}

/** Until the log holds `done` (each host ships its own outbox, a moment after recording). */
async function waitForLog(done: (r: Awaited<ReturnType<typeof runAudit>>) => boolean): Promise<void> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    const r = await runAudit(cfg, { vms: [...vms], live: false });
    if (done(r)) return;
    if (Date.now() > deadline) throw new Error('the log never showed the end of the run');
    await new Promise((res) => setTimeout(res, 500));
  }
}

async function audit(...extra: string[]): Promise<AuditJson> {
  const r = await ferry('audit', 'replay', ...vms.flatMap((vm) => ['--vm', vm]), '--json', ...extra);
  const out = JSON.parse(r.stdout) as AuditJson;
  assert.deepEqual(out.violations, [], 'no violation');
  assert.deepEqual(out.differences, [], 'no difference with the live state');
  assert.equal(r.status, 0, r.stderr);
  return out;
}

test('audit - after a completed, a refused and an aborted migration the log matches the live state', async () => {
  const [moved, refused, aborted] = vms;
  for (const vm of vms) {
    const dirty = vm === aborted ? '3000' : '0';
    const r = await ferry('guest', 'start', vm, '--host', hostA, '--memory', '96', '--dirty-rate', dirty);
    assert.equal(r.status, 0, r.stderr);
  }
  reports.push(await ctl!.run({ vm: moved, source: hostA, destination: hostB }));
  reports.push(await ctl!.run({ vm: refused, source: hostA, destination: small }));
  const handle = await ctl!.start({
    vm: aborted,
    source: hostA,
    destination: hostB,
    tunnelBandwidthMiBps: 1,
  });
  await ctl!.waitFor(handle, (p) => (p.transfer?.transferred ?? 0) > 0);
  await handle.cancel();
  reports.push(await handle.result());
  assert.deepEqual(
    reports.map((r) => [r.outcome, r.aborted]),
    [
      ['completed', false],
      ['rolled-back', false],
      ['rolled-back', true],
    ],
  );

  // Every migration's end, and the last word of each of its agents, is in the log.
  await waitForLog((r) =>
    reports.every((rep) => {
      const m = r.state.migrations.get(rep.migrationId);
      return m?.ended && m.phases.some((p) => p.phase === 'confirm');
    }),
  );
  const out = await audit('--histories');
  assert.equal(out.migrations, 3);
  assert.deepEqual(out.outcomes, { completed: 1, 'rolled-back': 2 });
  assert.deepEqual(out.histories, { replayed: 3, failures: [] });

  const text = await ferry('audit', 'replay', ...vms.flatMap((vm) => ['--vm', vm]));
  assert.equal(text.status, 0, text.stderr);
  assert.match(
    text.stdout,
    new RegExp(`${reports[0]!.migrationId}  ${moved}  ${hostA} → ${hostB}  .*completed: downtime`),
  );
  assert.match(text.stdout, /first error: prepare on .*CapacityShort/);
  assert.match(text.stdout, /rolled-back \(aborted\)/);
  assert.match(text.stdout, /first error: perform on .*\(Aborted\)/);
  assert.match(text.stdout, /violations: none/);
  assert.match(text.stdout, /live state: matches the log/);
});

test('audit - after the guests are killed and the hosts stopped, still no violation and no difference', async () => {
  for (const vm of vms) assert.equal((await ferry('guest', 'kill', vm)).status, 0);
  for (const h of hosts) assert.equal((await ferry('host', 'stop', h)).status, 0);
  await waitForLog(
    (r) =>
      vms.every((vm) => r.state.guests.get(vm)?.primary === null) &&
      [...r.state.disks.values()].every((d) => !vms.includes(d.vm)) &&
      hosts.every((h) => r.state.hosts.get(h)?.up === false),
  );
  const out = await audit();
  assert.equal(out.migrations, 3);
});

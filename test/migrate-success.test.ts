import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Config } from '../infra/config.ts';
import { ferry } from './support/cli.ts';
import { startTestController, type TestController } from './support/migrate.ts';
import { realStack, uniqueName } from './support/stack.ts';
import { runHostOperation } from '../cli/host-operation.ts';

const [hostA, hostB] = [uniqueName('host'), uniqueName('host')];
let cfg: Config;
let ctl: TestController;

before(async () => {
  cfg = await realStack();
  for (const [h, ip] of [
    [hostA, '127.0.0.12'],
    [hostB, '127.0.0.13'],
  ] as const) {
    const r = await ferry('host', 'start', h, '--address', ip, '--memory', '1024', '--detach');
    assert.equal(r.status, 0, r.stderr);
  }
  ctl = await startTestController(cfg);
});

after(async () => {
  await ctl?.stop();
  await ferry('host', 'stop', hostA);
  await ferry('host', 'stop', hostB);
});

test('migrate - success path', async () => {
  const vm = uniqueName('vm');
  const start = await ferry('guest', 'start', vm, '--host', hostA, '--memory', '64', '--dirty-rate', '2000');
  assert.equal(start.status, 0, start.stderr);
  await sleep(300);
  const report = await ctl.run({ vm, source: hostA, destination: hostB, maxDowntimeMs: 300 });
  console.log(JSON.stringify(report, null, 2));
  assert.equal(report.outcome, 'completed');
  const st = await runHostOperation(cfg, hostB, 'guestStatus', vm);
  assert.equal(st.running, true);
  await ferry('guest', 'kill', vm);
});

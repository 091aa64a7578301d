// The destination's reaper when Redis does not answer (a partition): the lease counts as alive
// for what was left of its TTL when last read, then as lapsed, and the incoming guest is killed
// without Redis; the lease and job are ended once Redis answers again.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { AutokillReaper, type ReaperDeps } from '../../hosts/agent/autokill-reaper.ts';
import { createLogger } from '../../infra/logging/logger.ts';

function fakes(holder: () => Promise<{ owner: string; host: string; ttlMs: number } | undefined>) {
  const killed: string[] = [];
  const claimed: string[] = [];
  const deps = {
    host: 'h1',
    log: createLogger('reaper-test', 'error'),
    guests: {
      has: () => true,
      kill: (vm: string) => {
        killed.push(vm);
        return Promise.resolve();
      },
    },
    autokill: {
      holder,
      claim: ({ vm }: { vm: string }) => {
        claimed.push(vm);
        return Promise.resolve(true);
      },
      watchExpiry: () => Promise.resolve(() => Promise.resolve()),
    },
    jobs: { finish: () => Promise.resolve() },
  } as unknown as ReaperDeps;
  return { deps, killed, claimed };
}

const never = () => new Promise<never>(() => undefined);

test('autokill reaper - Redis silent past the lease: the incoming guest is killed here, the lease claimed', async () => {
  const { deps, killed, claimed } = fakes(never);
  const reaper = new AutokillReaper(deps);
  reaper.watch('vm-1', 'm-1', 50);
  await new Promise((r) => setTimeout(r, 100));
  await reaper.sweep();
  assert.deepEqual(killed, ['vm-1']);
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(claimed, ['vm-1'], 'the lease is taken once Redis answers (here at once)');
  assert.deepEqual(reaper.watching(), []);
});

test('autokill reaper - Redis silent within the lease: the guest lives', async () => {
  const { deps, killed } = fakes(() => Promise.reject(new Error('connection refused')));
  const reaper = new AutokillReaper(deps);
  reaper.watch('vm-2', 'm-2', 60_000);
  await reaper.sweep();
  assert.deepEqual(killed, []);
  assert.deepEqual(reaper.watching(), ['vm-2']);
});

test('autokill reaper - a lease read alive extends how long silence is tolerated', async () => {
  let answer: () => Promise<{ owner: string; host: string; ttlMs: number } | undefined> = () =>
    Promise.resolve({ owner: 'm-3', host: 'h1', ttlMs: 60_000 });
  const { deps, killed } = fakes(() => answer());
  const reaper = new AutokillReaper(deps);
  reaper.watch('vm-3', 'm-3', 10);
  await reaper.sweep(); // read alive with 60 s left
  answer = () => Promise.reject(new Error('connection refused'));
  await new Promise((r) => setTimeout(r, 50));
  await reaper.sweep();
  assert.deepEqual(killed, [], 'the last read said 60 s, so the guest lives');
});

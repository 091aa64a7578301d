import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  REFUSAL_LINES_PER_WINDOW,
  REFUSAL_WINDOW_MS,
  logTunnelRefusals,
} from '../../hosts/agent/tunnel-refusals.ts';
import type { TunnelRefusedEvent } from '../../hosts/tunnel/events.ts';
import { createLogger } from '../../infra/logging/logger.ts';

function refused(
  remote: string,
  reason: 'wrong-peer' | 'tls-handshake-failed' = 'tls-handshake-failed',
): TunnelRefusedEvent {
  return {
    type: 'tunnel-refused',
    side: 'destination',
    migrationId: '',
    vm: '',
    reason,
    remote,
    detail: 'ECONNRESET',
  };
}

test('tunnel refusals - each is one warn line naming reason, address, host and detail', () => {
  const lines: string[] = [];
  const handle = logTunnelRefusals(createLogger('agent h2', 'info', (l) => lines.push(l)).child('tunnel'));
  handle({ ...refused('10.0.0.9:4100', 'wrong-peer'), peerHost: 'h3', migrationId: 'm-1', vm: 'vm1' });
  handle({ type: 'tunnel-opened', side: 'destination', migrationId: 'm-1', vm: 'vm1', peer: 'x' });
  assert.equal(lines.length, 1, 'only refusals are logged');
  assert.match(
    lines[0]!,
    /WARN +\[agent h2\/tunnel\] refused a tunnel connection: wrong-peer remote=10\.0\.0\.9:4100 peerHost=h3 migrationId=m-1 vm=vm1 detail=ECONNRESET$/,
  );
});

test('tunnel refusals - an address hammering the port gets its first lines, then one count per window', () => {
  const lines: string[] = [];
  let now = 1_000;
  const handle = logTunnelRefusals(
    createLogger('agent h2', 'info', (l) => lines.push(l)),
    () => now,
  );
  for (let i = 0; i < 500; i++) handle(refused(`10.0.0.9:${5000 + i}`));
  handle(refused('10.0.0.7:6000')); // another address keeps its own share
  assert.equal(lines.length, REFUSAL_LINES_PER_WINDOW + 1);
  assert.match(lines[REFUSAL_LINES_PER_WINDOW - 1]!, /more="further refusals from this address are counted"/);
  now += REFUSAL_WINDOW_MS;
  handle(refused('10.0.0.9:7000'));
  assert.match(
    lines.at(-2)!,
    new RegExp(
      `${500 - REFUSAL_LINES_PER_WINDOW} more tunnel connections refused, not logged one by one remote=10\\.0\\.0\\.9 `,
    ),
  );
  assert.match(lines.at(-1)!, /refused a tunnel connection: tls-handshake-failed remote=10\.0\.0\.9:7000/);
});

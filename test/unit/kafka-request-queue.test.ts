// kafkajs's request queue, as bus.ts patches it (infra/kafka/request-queue-idle.ts): an idle
// connection arms no timer, one with work pending or a throttle still does.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import RequestQueue from 'kafkajs/src/network/requestQueue/index.js';
import '../../infra/kafka/bus.ts';

const quiet = {
  debug: () => undefined,
  info: () => undefined,
  warn: () => undefined,
  error: () => undefined,
};

function queue() {
  return new RequestQueue({
    maxInFlightRequests: 1,
    requestTimeout: 1000,
    enforceRequestTimeout: false,
    clientId: 'test',
    broker: 'localhost:1',
    logger: quiet,
  });
}

function schedule(q: InstanceType<typeof RequestQueue>): void {
  RequestQueue.prototype.scheduleCheckPendingRequests.call(q);
}

test('kafka request queue - an idle queue arms no timer (kafkajs 2.2.4 re-armed a 1 ms one forever)', () => {
  const q = queue();
  schedule(q);
  const armed = q.throttleCheckTimeoutId;
  clearTimeout(armed as NodeJS.Timeout); // unpatched, the loop would keep the test running
  assert.equal(armed, null);
});

test('kafka request queue - a throttled queue, or one with requests pending, still schedules its check', () => {
  const throttled = queue();
  throttled.throttledUntil = Date.now() + 60_000;
  schedule(throttled);
  assert.notEqual(throttled.throttleCheckTimeoutId, null, 'a check when the throttle ends');
  clearTimeout(throttled.throttleCheckTimeoutId as NodeJS.Timeout);

  const busy = queue();
  busy.pending.push({});
  schedule(busy);
  assert.notEqual(busy.throttleCheckTimeoutId, null, 'a check for the pending request');
  clearTimeout(busy.throttleCheckTimeoutId as NodeJS.Timeout);
});

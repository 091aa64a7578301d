// kafkajs 2.2.4's RequestQueue re-arms a timer forever once a connection has carried a request:
// with nothing pending and no throttle, scheduleCheckPendingRequests sets a timeout of
// `throttledUntil - now` (negative, so 1 ms), which checks nothing and re-arms it. That is ~900
// timers and ~4 % of a core per idle connection (tulios/kafkajs#1556, #1704; the fix of #1667 is
// unreleased, and kafkajs is unmaintained). Every agent, controller and CLI producer carries one;
// 20 idle agents spent half a core in it (bench scale). This drops the loop: with nothing pending
// and no throttle there is nothing to check; a request queued later schedules its own check
// (push), a fulfilled one checks the queue (fulfillRequest), and a throttle still schedules one.
// Imported by bus.ts, the one place ferry creates Kafka clients, so the patch lands before any.
import RequestQueue, { type RequestQueueState } from 'kafkajs/src/network/requestQueue/index.js';

const original = RequestQueue.prototype.scheduleCheckPendingRequests;

RequestQueue.prototype.scheduleCheckPendingRequests = function (this: RequestQueueState): void {
  if (this.pending.length === 0 && this.throttledUntil <= Date.now()) return;
  original.call(this);
};

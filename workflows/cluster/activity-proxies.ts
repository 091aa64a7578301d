// The workflow's proxies of the activities drains and rebalances call, with their options: the
// controller's cluster activities on the workflow's own queue, and the agents' guest lists on each
// host's queue.
import { proxyActivities } from '@temporalio/workflow';
import type { ClusterActivities } from '../../activities/cluster.ts';
import type { HostActivities } from '../../activities/host.ts';
import { hostTaskQueue } from '../../protocol/task-queues.ts';

/** Short bookkeeping in Redis: retried until Redis answers. */
export function clusterOps() {
  return proxyActivities<ClusterActivities>({
    startToCloseTimeout: '30 seconds',
    retry: { initialInterval: '1 second', maximumInterval: '10 seconds' },
  });
}

/** Waiting for slots, and keeping them: long, heartbeating, resumed on another controller if this one dies. */
export function slotActivities() {
  return proxyActivities<ClusterActivities>({
    startToCloseTimeout: '1 day',
    heartbeatTimeout: '10 seconds',
    retry: {
      initialInterval: '500 milliseconds',
      maximumInterval: '5 seconds',
      nonRetryableErrorTypes: ['SlotsReleased'],
    },
  });
}

/** A host's guests, from its agent; an agent that does not answer within 30 s is down. */
export function hostGuests(host: string) {
  return proxyActivities<HostActivities>({
    taskQueue: hostTaskQueue(host),
    scheduleToCloseTimeout: '30 seconds',
    startToCloseTimeout: '15 seconds',
    retry: { maximumAttempts: 3, initialInterval: '1 second' },
  });
}

import { proxyActivities } from '@temporalio/workflow';
import type { LeaseRecord, PublishedEvent, SmokeActivities } from '../activities/smoke.ts';

const { publishSmokeEvent, takeSmokeLease } = proxyActivities<SmokeActivities>({
  startToCloseTimeout: '30 seconds',
  retry: { maximumAttempts: 3 },
});

export interface SmokeResult {
  event: PublishedEvent;
  lease: LeaseRecord;
}

/** One event to Kafka and one lease in Redis, each through an activity. */
export async function smokeWorkflow(runId: string): Promise<SmokeResult> {
  const event = await publishSmokeEvent(runId);
  const lease = await takeSmokeLease(runId);
  return { event, lease };
}

// The query drains and rebalances answer, shared by the workflows and their callers.
import { defineQuery } from '@temporalio/workflow';
import type { ClusterOpProgress } from '../../protocol/cluster.ts';

/** Each guest's state, destination and attempts, and the counts so far. */
export const clusterOpProgress = defineQuery<ClusterOpProgress>('clusterOpProgress');

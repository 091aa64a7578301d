import { patched } from '@temporalio/workflow';

/**
 * The part of a drain's or a rebalance's run id that its migrations' ids carry, so that a second
 * run never reuses a migration id (their slots and Finish records are keyed by it). Temporal's
 * run ids are UUIDv7: they begin with the start time, so two runs a minute apart shared their
 * first 8 characters, and the second drain of a host failed with SlotsReleased. The random tail
 * is taken instead; histories from before this patch keep their old tag.
 */
export function runTagOf(runId: string): string {
  return patched('run-tag-random-tail') ? runId.replace(/-/g, '').slice(-12) : runId.slice(0, 8);
}

// Activities of the controller itself (the worker that runs migration workflows), not of a host.
import { ApplicationFailure, Context } from '@temporalio/activity';
import type { AutokillLeases } from '../infra/redis/autokill.ts';

export interface ControlDeps {
  autokill: AutokillLeases;
}

export function createControlActivities(deps: ControlDeps) {
  return {
    /**
     * Keeps the destination's autokill lease alive for as long as the migration's controller is:
     * libvirt ties the incoming domain to the controlling client's connection, ferry ties it to
     * this activity's heartbeat. Terminate the workflow or lose the controller for longer than the
     * lease, and the destination agent kills the incoming guest.
     */
    async keepAutokill(input: { migrationId: string; vm: string; ttlMs: number }): Promise<void> {
      const ctx = Context.current();
      const every = Math.max(200, Math.floor(input.ttlMs / 5));
      for (;;) {
        const renewed = await deps.autokill.renew({
          vm: input.vm,
          owner: input.migrationId,
          ttlMs: input.ttlMs,
        });
        if (!renewed) {
          throw ApplicationFailure.nonRetryable(
            `the autokill lease of ${input.vm} is gone (Finish took it, or it lapsed and the guest was killed)`,
            'AutokillLeaseGone',
          );
        }
        ctx.heartbeat();
        await ctx.sleep(every); // throws when the workflow stops the keepalive
      }
    },
  };
}

export type ControlActivities = ReturnType<typeof createControlActivities>;

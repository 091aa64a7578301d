// Activities of the controller itself (the worker that runs migration workflows), not of a host.
import { ApplicationFailure, CancelledFailure, Context } from '@temporalio/activity';
import type { Outbox } from '../hosts/outbox/outbox.ts';
import type { AutokillLeases } from '../infra/redis/autokill.ts';
import { heartbeatWhile } from './heartbeat.ts';
import type { MigrationReport } from '../protocol/migration.ts';

export interface ControlDeps {
  autokill: AutokillLeases;
  /** The controller's own event outbox (its events carry host `controller`). */
  outbox: Outbox;
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
      // Started before Prepare registers the lease: until it first exists there is nothing to
      // renew, and nothing is wrong. Once seen (remembered across retries in the heartbeat), a
      // missing lease means it is gone for good.
      let seen = (ctx.info.heartbeatDetails as { seen?: boolean } | undefined)?.seen === true;
      // Beat on a timer, not only between renewals: a renewal waits out a Redis restart (the
      // patient client, ~15 s), and an attempt that stopped beating meanwhile would be timed out
      // by Temporal and retried while the lease is still good.
      await heartbeatWhile(
        ctx,
        Math.min(every, 1000),
        () => ({ seen }),
        async () => {
          for (;;) {
            const renewed = await deps.autokill.renew({
              vm: input.vm,
              owner: input.migrationId,
              ttlMs: input.ttlMs,
            });
            seen ||= renewed;
            if (!renewed && seen) {
              throw ApplicationFailure.nonRetryable(
                `the autokill lease of ${input.vm} is gone (Finish took it, or it lapsed and the guest was killed)`,
                'AutokillLeaseGone',
              );
            }
            ctx.heartbeat({ seen });
            try {
              await ctx.sleep(every); // throws when the workflow stops the keepalive
            } catch (err) {
              // Stopped by the workflow: Finish took the lease (nothing left to drop), or the
              // migration is rolling back and its incoming guest must go. Dropping the lease now,
              // rather than letting it lapse a TTL later, lets the VM be migrated again at once (a
              // drain's retry). Nothing else says so. NOT_FOUND is also what an attempt hears that
              // Temporal already timed out (its beats lost in a Temporal restart) while its retry
              // renews the lease: dropping then killed a healthy incoming guest. A controller
              // shutting down says nothing either. A lease left behind lapses within its TTL.
              const reason = err instanceof CancelledFailure ? err.message : '';
              if (reason === 'CANCELLED') {
                await deps.autokill.drop({ vm: input.vm, owner: input.migrationId }).catch(() => undefined);
              }
              throw err;
            }
          }
        },
      );
    },

    /**
     * The migration's end as an event: its outcome, first error and phase timeline go into the log,
     * the record auditors replay (the agents' events say what each host did, this says how it ended).
     */
    async recordMigrationEnded(report: MigrationReport): Promise<void> {
      deps.outbox.record({
        type: 'migration.ended',
        vm: report.vm,
        migrationId: report.migrationId,
        data: {
          outcome: report.outcome,
          source: report.source,
          destination: report.destination,
          runsOn: report.runsOn,
          aborted: report.aborted,
          downtimeMs: report.downtimeMs,
          bytes: report.bytes,
          passes: report.passes,
          firstError: report.firstError,
          phases: report.phases,
        },
      });
      await Promise.resolve();
    },
  };
}

export type ControlActivities = ReturnType<typeof createControlActivities>;

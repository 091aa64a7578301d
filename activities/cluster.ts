// The controller's activities for drains and rebalances: the cluster view they place guests with,
// the drain mark, and the migration slots (wait for them, keep them, release them). They run on the
// controller's task queue, beside the migration workflows they serve.
import { ApplicationFailure, Context } from '@temporalio/activity';
import type { Redis } from 'ioredis';
import { z } from 'zod';
import { readClusterView } from '../controller/cluster-view.ts';
import { VmNameSchema } from '../events/schema.ts';
import { HostRegistry } from '../hosts/agent/registration.ts';
import type { Logger } from '../infra/logging/logger.ts';
import { DrainMarks, type DrainMark } from '../infra/redis/draining.ts';
import type { MigrationSlots } from '../infra/redis/migration-slots.ts';
import type { HostView } from '../workflows/cluster/types.ts';

export interface ClusterDeps {
  redis: Redis;
  slots: MigrationSlots;
  log: Logger;
}

/** How often a waiting acquire tries again, and a keepalive renews and looks at the destination. */
const POLL_MS = 250;
const KEEP_EVERY_MS = 1000;

const LimitsSchema = z.object({
  cluster: z.number().int().min(1),
  perSource: z.number().int().min(1),
  perDestination: z.number().int().min(1),
});

const AcquireSchema = z.object({
  migrationId: z.string().min(1),
  vm: VmNameSchema,
  source: z.string().min(1),
  memoryMiB: z.number().int().positive(),
  /** Destinations in order of preference (the placement's ranking). */
  candidates: z.array(z.string().min(1)),
  limits: LimitsSchema,
  ttlMs: z.number().int().positive(),
});
export type AcquireInput = z.input<typeof AcquireSchema>;
export type AcquireResult = { kind: 'acquired'; destination: string } | { kind: 'no-room'; why: string };

const HoldSchema = z.object({
  migrationId: z.string().min(1),
  vm: VmNameSchema,
  source: z.string().min(1),
  destination: z.string().min(1),
  memoryMiB: z.number().int().positive(),
  ttlMs: z.number().int().positive(),
  /** Return `destination-down` once the destination's registration has been gone this long (0: never). */
  destinationDownAfterMs: z.number().int().min(0),
});
export type HoldInput = z.input<typeof HoldSchema>;
export type HoldEnd = 'released' | 'destination-down';

export function createClusterActivities(deps: ClusterDeps) {
  const { redis, slots, log } = deps;
  const registry = new HostRegistry(redis);
  const marks = new DrainMarks(redis);

  return {
    async clusterView(input: { hosts?: string[] }): Promise<HostView[]> {
      const only = z.array(z.string().min(1)).optional().parse(input.hosts);
      return readClusterView(redis, slots, only);
    },

    async markDraining(input: { host: string; by: string }): Promise<DrainMark> {
      const { host, by } = z.object({ host: z.string().min(1), by: z.string().min(1) }).parse(input);
      return marks.mark(host, by);
    },

    /**
     * Waits (heartbeating) until the migration's three slots are free on one of its candidate
     * destinations, and takes them with its memory promised there. Each try reads the candidates'
     * registrations and drain marks afresh: a candidate that went down or started draining is
     * skipped. Returns `no-room` when no candidate can take the guest and nothing in flight could
     * change that; the workflow then places the guest again.
     */
    async acquireSlots(input: AcquireInput): Promise<AcquireResult> {
      const req = AcquireSchema.parse(input);
      const ctx = Context.current();
      for (;;) {
        const [regs, drained] = await Promise.all([
          Promise.all(req.candidates.map((h) => registry.read(h))),
          marks.many(req.candidates),
        ]);
        const candidates = req.candidates.flatMap((host, i) => {
          const reg = regs[i];
          return reg && !drained.has(host) ? [{ host, freeMiB: reg.memoryMiB - reg.usedMiB }] : [];
        });
        if (candidates.length === 0) {
          return {
            kind: 'no-room',
            why: `every candidate (${req.candidates.join(', ')}) is down or draining`,
          };
        }
        const answer = await slots.tryAcquire({ ...req, candidates });
        switch (answer.kind) {
          case 'acquired':
            return answer;
          case 'no-room':
            return { kind: 'no-room', why: `no candidate has ${req.memoryMiB} MiB free any more` };
          case 'released':
            throw ApplicationFailure.nonRetryable(
              `the slots of migration ${req.migrationId} were released already`,
              'SlotsReleased',
            );
          case 'wait':
            ctx.heartbeat({ waitingFor: answer.for });
            await ctx.sleep(POLL_MS); // throws once the workflow cancels the wait
        }
      }
    },

    /**
     * Keeps a running migration's slots alive (the TTL lapses if this controller dies) until the
     * workflow cancels it, and watches the destination: a migration whose destination agent is
     * gone would wait for it forever, so this returns `destination-down` for the workflow to abort it.
     */
    async holdSlots(input: HoldInput): Promise<HoldEnd> {
      const h = HoldSchema.parse(input);
      const ctx = Context.current();
      let downSince: number | undefined;
      for (;;) {
        const renewed = await slots.renew(h, h.ttlMs);
        if (renewed === 'released') return 'released';
        if (renewed === 'retaken') {
          log.warn('migration slots had lapsed (the controller was away longer than their TTL); taken back', {
            migrationId: h.migrationId,
          });
        }
        if (h.destinationDownAfterMs > 0) {
          if (await registry.read(h.destination)) downSince = undefined;
          else {
            downSince ??= Date.now();
            if (Date.now() - downSince >= h.destinationDownAfterMs) return 'destination-down';
          }
        }
        ctx.heartbeat();
        await ctx.sleep(Math.min(KEEP_EVERY_MS, Math.floor(h.ttlMs / 3)));
      }
    },

    async releaseSlots(input: { migrationId: string }): Promise<boolean> {
      return slots.release(z.string().min(1).parse(input.migrationId));
    },
  };
}

export type ClusterActivities = ReturnType<typeof createClusterActivities>;

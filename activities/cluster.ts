// The controller's activities for drains and rebalances: the cluster view they place guests with,
// the drain mark, and the migration slots (wait for them, keep them, release them). They run on the
// controller's task queue, beside the migration workflows they serve.
import { ApplicationFailure, Context } from '@temporalio/activity';
import { z } from 'zod';
import { readClusterView, type ClusterStores } from './cluster-view.ts';
import { VmNameSchema } from '../protocol/events.ts';
import type { Logger } from '../infra/logging/logger.ts';
import type { DrainMark } from '../infra/redis/draining.ts';
import { rankDestinations, roomMiB } from '../protocol/placement.ts';
import type { HostView } from '../protocol/cluster.ts';

export interface ClusterDeps extends ClusterStores {
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
  /** Hosts it must not go to (tried already). */
  exclude: z.array(z.string().min(1)),
  /** Only these hosts may take it (absent: every registered host). */
  only: z.array(z.string().min(1)).optional(),
  /** Fill a destination only up to this share of its memory (rebalance). */
  ceilingPct: z.number().gt(0).max(100).optional(),
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
  const { registry, drainMarks: marks, slots, log } = deps;

  return {
    async clusterView(input: { hosts?: string[] }): Promise<HostView[]> {
      const only = z.array(z.string().min(1)).optional().parse(input.hosts);
      return readClusterView(deps, only);
    },

    async markDraining(input: { host: string; by: string }): Promise<DrainMark> {
      const { host, by } = z.object({ host: z.string().min(1), by: z.string().min(1) }).parse(input);
      return marks.mark(host, by);
    },

    /**
     * Places the guest and waits (heartbeating) until its three slots are free on a destination
     * with room, then takes them with its memory promised there. Every try places it afresh on the
     * cluster as it is now (registrations, drain marks, memory promised to other migrations), so a
     * host that went down, started draining or filled up meanwhile is passed over, and one that
     * freed up is used. Returns `no-room` when no host could take the guest even once the
     * migrations in flight have landed.
     */
    async acquireSlots(input: AcquireInput): Promise<AcquireResult> {
      const req = AcquireSchema.parse(input);
      const ctx = Context.current();
      const mover = { vm: req.vm, memoryMiB: req.memoryMiB, source: req.source };
      const rank = {
        exclude: req.exclude,
        ...(req.ceilingPct !== undefined ? { ceilingPct: req.ceilingPct } : {}),
      };
      for (;;) {
        const view = await readClusterView(deps, req.only);
        // The slots' script counts the promises itself, atomically: rank on room without them, so a
        // host whose room is only promised to migrations in flight is waited for, not given up.
        const unpromised = view.map((h) => ({ ...h, promisedMiB: 0 }));
        const ranked = rankDestinations(mover, unpromised, rank);
        if (ranked.length === 0) {
          const where = req.ceilingPct === undefined ? 'free' : `free under ${req.ceilingPct}% of its memory`;
          return { kind: 'no-room', why: `no live, non-draining host has ${req.memoryMiB} MiB ${where}` };
        }
        // Best first on the room left after the promises, as the placement ranks it.
        const order = rankDestinations(mover, view, rank);
        const candidates = [...order, ...ranked.filter((h) => !order.includes(h))].map((host) => ({
          host,
          freeMiB: roomMiB(
            unpromised.find((h) => h.name === host)!,
            req.ceilingPct,
          ),
        }));
        const answer = await slots.tryAcquire({ ...req, candidates });
        switch (answer.kind) {
          case 'acquired':
            return answer;
          case 'released':
            throw ApplicationFailure.nonRetryable(
              `the slots of migration ${req.migrationId} were released already`,
              'SlotsReleased',
            );
          case 'wait':
          case 'no-room': // the candidates were ranked on the same room: placed again on the next try
            ctx.heartbeat({ waitingFor: answer.kind === 'wait' ? answer.for : 'room' });
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

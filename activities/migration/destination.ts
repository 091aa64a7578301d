// The destination side of the v3 protocol: DstPrepare and DstFinish. The MIGRATION_IN job is held
// from Prepare to Finish; the incoming guest is registered for autokill at Prepare and taken off
// it only by a Finish that goes on to resume it.
import { prepareIncoming, waitIncoming } from '../../hosts/agent/migration.ts';
import { issueCookie, readCookie } from './cookies.ts';
import { recordPhase } from './phase-event.ts';
import type { PhaseDeps } from './deps.ts';
import { asPhase, refuse } from './refuse.ts';

const ARRIVAL_TIMEOUT_MS = 60_000;

export function createDestinationActivities(deps: PhaseDeps) {
  const { host, guests, jobs, outbox, autokill, guard, placements, drainMarks, finished } = deps;
  const phaseEvent = (
    migrationId: string,
    vm: string,
    phase: 'prepare' | 'finish',
    mode: 'normal' | 'cancelled',
    detail: string,
  ) => recordPhase(outbox, { migrationId, vm, phase, mode, detail });

  /** The incoming guest goes, its autokill lease and job with it: Finish's failure and cancellation. */
  async function discard(vm: string, migrationId: string, reason: string): Promise<void> {
    guard.forget(vm);
    if (guests.has(vm) && guests.definition(vm).incoming) await guests.kill(vm, reason, migrationId);
    await autokill.claim({ vm, owner: migrationId });
    await jobs.finish({ vm, host, owner: migrationId });
  }

  const finishCookie = (migrationId: string, vm: string, to: string, source: string, destination: string) =>
    issueCookie(deps, {
      migrationId,
      vm,
      phase: 'finish',
      to,
      digest: { source, destination },
    });

  /** After the resume: the VM is this host's now (each step idempotent, for retries). */
  async function settle(vm: string, migrationId: string, source: string): Promise<void> {
    await placements.move(vm, source, host);
    if (guests.has(vm)) guests.settle(vm);
    await jobs.finish({ vm, host, owner: migrationId });
    guard.forget(vm);
  }

  return {
    /** Prepare: check the Begin cookie and the room here, start the guest paused and incoming, under autokill. */
    async dstPrepare(input: {
      migrationId: string;
      vm: string;
      source: string;
      cookie: string;
      autokillTtlMs: number;
    }) {
      return asPhase(async () => {
        const { migrationId, vm, source } = input;
        const begin = await readCookie(deps, input.cookie, {
          migrationId,
          vm,
          phase: 'begin',
          reader: 'prepare',
        });
        const def = begin.definition;
        if (!def) throw refuse('CookieIncomplete', 'the Begin cookie carries no guest definition');
        // A host being drained takes no new guests, whoever placed this one here.
        const draining = await drainMarks.get(host);
        if (draining) {
          throw refuse('HostDraining', `${host} is draining (since ${draining.since}, by ${draining.by})`);
        }
        // Refused before anything is taken; the guest's start checks again, atomically, against
        // other starts under way (CapacityError: type CapacityShort, naming host, VM and phase).
        guests.checkRoom(vm, def.memoryMiB, 'prepare');
        if (guests.has(vm)) throw refuse('GuestExists', `a guest named ${vm} already runs on ${host}`);
        await jobs.start({
          vm,
          host,
          job: 'MIGRATION_IN',
          owner: migrationId,
          phase: 'prepare',
          peer: source,
        });
        try {
          // Under autokill before the guest exists, so no moment has an incoming guest without a lease.
          if (!(await autokill.register({ vm, host, owner: migrationId, ttlMs: input.autokillTtlMs }))) {
            throw refuse('AutokillTaken', `${vm} is already registered for autokill by another migration`);
          }
          guard.watch(vm, migrationId, input.autokillTtlMs);
          const ticket = await prepareIncoming(deps, {
            migrationId,
            vm,
            kind: def.kind,
            memoryMiB: def.memoryMiB,
            dirtyPagesPerSecond: def.dirtyPagesPerSecond,
            disks: def.disks,
            // The host the Prepare cookie goes to: with TLS the tunnel admits only its certificate.
            source,
          });
          const cookie = await issueCookie(deps, {
            migrationId,
            vm,
            phase: 'prepare',
            to: source,
            tunnel: { host: ticket.dataHost, port: ticket.dataPort, token: ticket.token },
          });
          await jobs.continue({ vm, host, owner: migrationId });
          phaseEvent(
            migrationId,
            vm,
            'prepare',
            'normal',
            `incoming on ${ticket.dataHost}:${ticket.dataPort}`,
          );
          return { cookie };
        } catch (err) {
          await discard(vm, migrationId, `prepare of migration ${migrationId} failed`).catch(() => undefined);
          throw err;
        }
      });
    },

    /**
     * Finish: the stream arrived whole and the memory equals the source's at the stop, so the guest
     * leaves autokill, takes the disk leases with the source's lockstate and resumes. On any failure
     * (or cancelled) the incoming guest is killed. Idempotent across retries.
     */
    async dstFinish(input: {
      migrationId: string;
      vm: string;
      source: string;
      cookie: string | null;
      cancelled: boolean;
    }) {
      return asPhase(async () => {
        const { migrationId, vm, source } = input;
        const done = await finished.get(migrationId);
        if (done) {
          await settle(vm, migrationId, source);
          return done;
        }
        const record = await jobs.get(vm, host);
        const ours = record?.owner === migrationId;
        if (input.cancelled) {
          if (ours) {
            await jobs.setPhase({ vm, host, job: 'MIGRATION_IN', owner: migrationId, phase: 'finish3' });
            await discard(vm, migrationId, `migration ${migrationId} rolled back`);
            phaseEvent(migrationId, vm, 'finish', 'cancelled', 'incoming guest killed');
          }
          return { cookie: '', digest: null };
        }
        if (!ours)
          throw refuse(
            'JobGone',
            `no incoming migration ${migrationId} of ${vm} on ${host} (autokilled or never prepared)`,
          );
        if (input.cookie === null) throw refuse('CookieMissing', 'Finish needs the Perform cookie');
        const job = { vm, host, job: 'MIGRATION_IN' as const, owner: migrationId };
        await jobs.startPhase({ ...job, phase: 'finish3' });
        const fail = async (type: string, message: string, details?: unknown) => {
          await discard(vm, migrationId, message).catch(() => undefined);
          phaseEvent(migrationId, vm, 'finish', 'normal', `failed: ${message}`);
          return refuse(type, message, details);
        };
        let performed;
        try {
          performed = await readCookie(deps, input.cookie, {
            migrationId,
            vm,
            phase: 'perform',
            reader: 'finish',
          });
        } catch (err) {
          throw await fail('CookieRefused', (err as Error).message);
        }
        const sourceDigest = performed.digest?.source;
        if (guests.has(vm) && (await guests.qmp(vm).execute('query-status')).running) {
          // Running already: only a Finish that took the disk leases resumes this guest, so an
          // earlier attempt died between its resume and its answer. Confirm that it holds them.
          try {
            await deps.leases.acquire({ host, vm }, guests.definition(vm).disks, performed.lockstate);
          } catch (err) {
            throw await fail(
              'LeaseRefused',
              `${vm} runs here without its disk leases: ${(err as Error).message}`,
            );
          }
          const result = {
            cookie: await finishCookie(migrationId, vm, source, sourceDigest!, sourceDigest!),
            digest: sourceDigest!,
          };
          await finished.record(migrationId, result);
          await settle(vm, migrationId, source);
          return result;
        }
        const arrived = await waitIncoming(deps, { migrationId, vm, timeoutMs: ARRIVAL_TIMEOUT_MS }).catch(
          async (err: unknown) => {
            throw await fail('StreamIncomplete', (err as Error).message);
          },
        );
        if (sourceDigest !== arrived.digest) {
          // The stream has no checksums of its own: memory that differs from the source's at the
          // stop must never run.
          throw await fail(
            'MemoryMismatch',
            `memory digest here ${arrived.digest.slice(0, 12)} differs from the source's at the stop ${String(sourceDigest).slice(0, 12)}`,
          );
        }
        guard.finishing(vm);
        if (!(await autokill.claim({ vm, owner: migrationId }))) {
          throw await fail(
            'AutokillLapsed',
            `the autokill lease of ${vm} lapsed before Finish: its controller was gone too long`,
          );
        }
        const disks = guests.definition(vm).disks;
        try {
          await deps.leases.acquire({ host, vm }, disks, performed.lockstate);
        } catch (err) {
          throw await fail('LeaseRefused', (err as Error).message);
        }
        // The answer is ready before the guest runs, and stored the moment it runs: a retry from
        // here on (the agent died, the reply was lost) answers the same instead of judging a guest
        // that already runs.
        const result = {
          cookie: await finishCookie(migrationId, vm, source, arrived.digest, arrived.digest),
          digest: arrived.digest,
        };
        try {
          await guests.qmp(vm).execute('cont');
        } catch (err) {
          // Hand the disks back: the source resumes with the lockstate of this release.
          const handedBack = await deps.leases.release({ host, vm }, disks);
          throw await fail('ResumeFailed', `could not resume ${vm}: ${(err as Error).message}`, {
            lockstate: handedBack,
          });
        }
        await finished.record(migrationId, result);
        await settle(vm, migrationId, source);
        phaseEvent(migrationId, vm, 'finish', 'normal', 'guest resumed');
        return result;
      });
    },
  };
}

export type DestinationActivities = ReturnType<typeof createDestinationActivities>;

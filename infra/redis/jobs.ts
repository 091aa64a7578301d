// The migration job a VM is in on a host: libvirt's async job and phase on a domain object, kept in
// Redis so it outlives the activity (and the agent) that set it. The source keeps a MIGRATION_OUT
// job from Begin to Confirm and the destination a MIGRATION_IN job from Prepare to Finish; while
// one exists, nothing else may change the VM on that host (assertFree).
//
// Every change is one Lua script, so two workers can never both start a job, and a phase moves
// only forward along job-phases.ts's table. Retries are safe: starting the same job again (same
// owner, type, phase and peer), setting the phase it is already in, continuing twice and finishing
// a finished job all succeed without changing anything.
import type { Redis } from 'ioredis';
import { z } from 'zod';
import { FerryError } from '../../errors/ferry-error.ts';
import {
  ASYNC_JOBS,
  MIGRATION_PHASES,
  allowedPrevious,
  isPhaseOf,
  type AsyncJob,
  type MigrationPhase,
} from './job-phases.ts';
import { loadScript, type ScriptRunner } from './scripts.ts';

export const JOB_BUSY = 'JOB_BUSY';
export const JOB_NOT_OWNER = 'JOB_NOT_OWNER';
export const JOB_NOT_ACTIVE = 'JOB_NOT_ACTIVE';
export const JOB_PHASE_BACKWARDS = 'JOB_PHASE_BACKWARDS';
export type JobErrorCode =
  typeof JOB_BUSY | typeof JOB_NOT_OWNER | typeof JOB_NOT_ACTIVE | typeof JOB_PHASE_BACKWARDS;

const JobRecordSchema = z
  .object({
    vm: z.string(),
    host: z.string(),
    job: z.enum(ASYNC_JOBS),
    phase: z.enum(MIGRATION_PHASES),
    owner: z.string(),
    active: z.enum(['0', '1']).transform((v) => v === '1'),
    peer: z.string(),
    startedAt: z.iso.datetime(),
    updatedAt: z.iso.datetime(),
    // The source memo's hash field keeps the name it had when it held only the lockstate, so the
    // records already stored read the same.
    lockstate: z
      .string()
      .optional()
      .transform((v) => v ?? null),
  })
  .transform(({ lockstate, ...record }) => ({ ...record, sourceMemo: lockstate }));

export interface JobRecord {
  vm: string;
  host: string;
  job: AsyncJob;
  phase: MigrationPhase;
  /** The migration id. */
  owner: string;
  /** A phase is running right now (StartPhase), rather than waiting for the next (Continue). */
  active: boolean;
  /** The other host of the migration. */
  peer: string;
  startedAt: string;
  updatedAt: string;
  /**
   * The source's memo, opaque JSON here (activities/migration/source-memo.ts reads it): whether the
   * guest ran, and the lockstate of the disks Perform released, kept from Begin to Confirm.
   * Stored under the hash field `lockstate`.
   */
  sourceMemo: string | null;
}

export class JobError extends FerryError {
  /** The job in the way, or the one refused, as it is now. */
  readonly record: JobRecord | undefined;

  constructor(
    readonly code: JobErrorCode,
    readonly vm: string,
    readonly host: string,
    message: string,
    options?: { record?: JobRecord; cause?: unknown; hint?: string },
  ) {
    super(`${vm} on ${host}: ${message}`, options);
    this.record = options?.record;
  }
}

export function isJobError(err: unknown): err is JobError {
  return err instanceof JobError;
}

interface JobRef {
  vm: string;
  host: string;
  owner: string;
}
interface PhaseInput extends JobRef {
  job: AsyncJob;
  phase: MigrationPhase;
}

const describe = (r: JobRecord) =>
  `${r.job} job in phase ${r.phase}, owned by migration ${r.owner} (peer ${r.peer}, since ${r.startedAt})`;

/** Where migration jobs live; tests pass their own prefix. */
export class JobStore {
  private readonly startScript: ScriptRunner;
  private readonly phaseScript: ScriptRunner;
  private readonly continueScript: ScriptRunner;
  private readonly finishScript: ScriptRunner;
  private readonly memoScript: ScriptRunner;

  constructor(
    private readonly redis: Redis,
    private readonly prefix = 'ferry',
  ) {
    this.startScript = loadScript(redis, 'job-start');
    this.phaseScript = loadScript(redis, 'job-phase');
    this.continueScript = loadScript(redis, 'job-continue');
    this.finishScript = loadScript(redis, 'job-finish');
    this.memoScript = loadScript(redis, 'job-lockstate');
  }

  // The host is the hash tag: job-start and job-finish take a job and its host's index together,
  // so both must be on one Redis Cluster slot (docs/redis.md).
  private key(vm: string, host: string): string {
    return `${this.prefix}:job:{${host}}:${vm}`;
  }

  private index(host: string): string {
    return `${this.prefix}:jobs:{${host}}`;
  }

  /** JobStart + SetPhase: refuses with JOB_BUSY if any job exists for vm on host. */
  async start(input: PhaseInput & { peer: string }): Promise<JobRecord> {
    const { vm, host, job, owner, phase, peer } = input;
    assertPhaseOf(job, phase);
    const reply = await this.startScript(
      [this.key(vm, host), this.index(host)],
      [vm, host, job, phase, owner, peer, now()],
    );
    const [status, record] = parseReply(reply);
    if (status === 'ok' || status === 'same') return record!;
    throw new JobError(JOB_BUSY, vm, host, `busy with a ${describe(record!)}`, {
      record: record!,
      hint: `wait for migration ${record!.owner} to finish, or cancel it`,
    });
  }

  /** StartPhase: the owner's job moves forward (or stays, on a retry) and is active. */
  startPhase(input: PhaseInput): Promise<JobRecord> {
    return this.movePhase(input, true);
  }

  /** SetPhase: like startPhase without touching `active`. */
  setPhase(input: PhaseInput): Promise<JobRecord> {
    return this.movePhase(input, false);
  }

  /** Continue: the phase is done, the job stays (active=false). */
  async continue(input: JobRef): Promise<void> {
    const reply = await this.continueScript([this.key(input.vm, input.host)], [input.owner, now()]);
    this.check(input, parseReply(reply), 'continue');
  }

  /** Finish: deletes the owner's job; false (not an error) when there is none (a retry). */
  async finish(input: JobRef): Promise<boolean> {
    const { vm, host, owner } = input;
    const reply = await this.finishScript([this.key(vm, host), this.index(host)], [owner, vm]);
    const [status, record] = parseReply(reply);
    if (status === 'none') return false;
    this.check(input, [status, record], 'finish');
    return true;
  }

  /** Keeps the source's memo in its job (hash field `lockstate`). */
  async setSourceMemo(input: JobRef & { sourceMemo: string }): Promise<void> {
    const reply = await this.memoScript(
      [this.key(input.vm, input.host)],
      [input.owner, input.sourceMemo, now()],
    );
    this.check(input, parseReply(reply), 'keep the source memo of');
  }

  async get(vm: string, host: string): Promise<JobRecord | undefined> {
    const raw = await this.redis.hgetall(this.key(vm, host));
    return Object.keys(raw).length === 0 ? undefined : JobRecordSchema.parse(raw);
  }

  /** Every job on the host, by VM name. */
  async listForHost(host: string): Promise<JobRecord[]> {
    const vms = (await this.redis.smembers(this.index(host))).sort();
    const records = await Promise.all(vms.map((vm) => this.get(vm, host)));
    // A job finished between SMEMBERS and HGETALL is simply gone.
    return records.filter((r): r is JobRecord => r !== undefined);
  }

  /**
   * For changing operations (start/stop/kill/pause/resume): throws JOB_BUSY if a migration job
   * holds the VM on this host, unless `owner` is that job's owner. Queries don't call this. A check,
   * not a lock: the job that makes the VM busy is started atomically, so a change that passes here
   * races only with a migration about to begin, which libvirt would equally let through first.
   */
  async assertFree(vm: string, host: string, owner?: string): Promise<void> {
    const record = await this.get(vm, host);
    if (!record || (owner !== undefined && record.owner === owner)) return;
    throw new JobError(JOB_BUSY, vm, host, `busy with a ${describe(record)}`, {
      record,
      hint: `wait for migration ${record.owner} to finish, or cancel it`,
    });
  }

  private async movePhase(input: PhaseInput, startPhase: boolean): Promise<JobRecord> {
    const { vm, host, job, owner, phase } = input;
    assertPhaseOf(job, phase);
    const reply = await this.phaseScript(
      [this.key(vm, host)],
      [owner, job, phase, startPhase ? '1' : '', now(), ...allowedPrevious(job, phase)],
    );
    const [status, record] = parseReply(reply);
    if (status === 'backwards') {
      throw new JobError(
        JOB_PHASE_BACKWARDS,
        vm,
        host,
        `migration ${owner} cannot move its ${job} job from phase ${record!.phase} to ${phase}`,
        { record: record! },
      );
    }
    this.check(input, [status, record], `enter phase ${phase} of`, job);
    return record!;
  }

  /** Turns a script's refusal into the JobError that says who holds what. */
  private check(ref: JobRef, [status, record]: Reply, doing: string, job?: AsyncJob): void {
    const { vm, host, owner } = ref;
    if (status === 'ok') return;
    if (status === 'not_owner') {
      throw new JobError(
        JOB_NOT_OWNER,
        vm,
        host,
        `migration ${owner} cannot ${doing} a ${describe(record!)}`,
        { record: record! },
      );
    }
    if (status === 'not_active') {
      const what = record ? `the VM is in a ${describe(record)}` : 'the VM has no migration job';
      throw new JobError(
        JOB_NOT_ACTIVE,
        vm,
        host,
        `migration ${owner} cannot ${doing} ${job ? `its ${job} job` : 'its job'}: ${what}`,
        record ? { record } : undefined,
      );
    }
    throw new Error(`unexpected job script reply ${status}`);
  }
}

type Reply = [status: string, record: JobRecord | undefined];

/** A script's `{status, field, value, ...}` reply, the record parsed when there is one. */
function parseReply(reply: unknown): Reply {
  const [status, ...flat] = z.array(z.string()).min(1).parse(reply) as [string, ...string[]];
  if (flat.length === 0) return [status, undefined];
  const raw: Record<string, string> = {};
  for (let i = 0; i + 1 < flat.length; i += 2) raw[flat[i]!] = flat[i + 1]!;
  return [status, JobRecordSchema.parse(raw)];
}

function assertPhaseOf(job: AsyncJob, phase: MigrationPhase): void {
  // A caller's bug, not an operational error: never worth a retry.
  if (!isPhaseOf(job, phase)) throw new Error(`phase ${phase} is not a phase of a ${job} job`);
}

const now = () => new Date().toISOString();

// The migrate workflow on a Temporal dev server of its own, with fake activities: fast and
// deterministic tests of every compensation branch (the real-stack tests in test/migrate-*.test.ts
// stay, for what the agents do). One server and one controller worker per test file
// (startMigrateEnv), a fresh source and destination per migration (runMigration), every activity
// call logged in the order it was made, with its input.
//
// The server is the Temporal CLI the project pins and provisions itself (infra/temporal/provision.ts,
// the same binary `ferry stack up` runs, cached under ~/.cache/ferry): TestWorkflowEnvironment's
// own default would download one from a website at run time.
import { randomUUID } from 'node:crypto';
import { ApplicationFailure, Context } from '@temporalio/activity';
import type { WorkflowHandle } from '@temporalio/client';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { DefaultLogger, Runtime, Worker, type LogEntry } from '@temporalio/worker';
import type { ControlActivities } from '../../activities/control.ts';
import type { DestinationActivities } from '../../activities/migration/destination.ts';
import type { SourceActivities } from '../../activities/migration/source.ts';
import { loadConfig } from '../../infra/config.ts';
import { provisionTemporal } from '../../infra/temporal/provision.ts';
import { workflowBundle } from '../../infra/temporal/workflow-bundle.ts';
import type { migrate } from '../../workflows/migrate.ts';
import { progress } from '../../workflows/migration/messages.ts';
import type { MigrateInput, MigrationReport } from '../../protocol/migration.ts';

/** What the workflow logged (its `log.warn` goes through the worker's runtime logger). */
const logged: LogEntry[] = [];
// Installed once per process, before any connection: the workflow's logs are kept to be asserted
// on; the core's own (a keepalive cancelled as its workflow completes) only from errors up.
Runtime.install({
  logger: new DefaultLogger('WARN', (entry) => logged.push(entry)),
  telemetryOptions: { logging: { filter: { core: 'ERROR', other: 'ERROR' }, console: {} } },
});

/** Cancellation reaches an activity with a heartbeat's answer: let every beat through at once. */
const heartbeatsAtOnce = {
  maxHeartbeatThrottleInterval: '50 milliseconds',
  defaultHeartbeatThrottleInterval: '50 milliseconds',
};

/** A dev server and the controller's worker, shared by the migrations of one test file. */
export interface MigrateEnv {
  env: TestWorkflowEnvironment;
  /** The controller's task queue: the workflows and the controller's own activities. */
  taskQueue: string;
  /** Each running migration's fakes, by migration id, for the controller's activities. */
  controls: Map<string, Control>;
  teardown(): Promise<void>;
}

export async function startMigrateEnv(): Promise<MigrateEnv> {
  const cfg = loadConfig();
  const path = await provisionTemporal(cfg.cacheDir, cfg.temporal.cliVersion, (line) => console.log(line));
  const env = await TestWorkflowEnvironment.createLocal({
    server: {
      executable: { type: 'existing-path', path },
      // As the stack's server (infra/temporal/service.ts): dispatch without waiting up to 50 ms.
      extraArgs: ['--dynamic-config-value', 'history.transferProcessorMaxPollRPS=1000'],
      log: { format: 'pretty', level: 'error' },
    },
  });
  const controls = new Map<string, Control>();
  const control = (migrationId: string): Control => {
    const c = controls.get(migrationId);
    if (!c) throw new Error(`no fakes for migration ${migrationId}`);
    return c;
  };
  const taskQueue = `controller-${randomUUID().slice(0, 8)}`;
  // One worker with the workflow bundle for the whole file: creating one costs ~0.6 s.
  const controller = await Worker.create({
    ...heartbeatsAtOnce,
    connection: env.nativeConnection,
    taskQueue,
    workflowBundle: await workflowBundle(),
    activities: {
      keepAutokill: (i) => control(i.migrationId).keepAutokill(i),
      recordMigrationEnded: (r) => control(r.migrationId).recordMigrationEnded(r),
    } satisfies Control,
  });
  const running = controller.run();
  return {
    env,
    taskQueue,
    controls,
    async teardown() {
      controller.shutdown();
      await running;
      await env.teardown();
    },
  };
}

type Source = Pick<SourceActivities, 'srcBegin' | 'srcPerform' | 'srcSetSpeed' | 'srcConfirm'>;
type Destination = Pick<DestinationActivities, 'dstPrepare' | 'dstFinish'>;
type Control = Pick<ControlActivities, 'keepAutokill' | 'recordMigrationEnded'>;
export type Fakes = Source & Destination & Control;

export const MEMORY_MIB = 512;
export const SOURCE_DIGEST = 'a'.repeat(64);

/** Fakes that answer as a healthy source and destination do; each test replaces what it breaks. */
export function healthy(): Fakes {
  return {
    srcBegin: (i) =>
      Promise.resolve({
        cookie: `begin:${i.migrationId}`,
        definition: {
          kind: 'emulated' as const,
          memoryMiB: MEMORY_MIB,
          dirtyPagesPerSecond: 0,
          disks: ['disk0'],
        },
      }),
    dstPrepare: (i) => Promise.resolve({ cookie: `prepare:${i.migrationId}` }),
    srcPerform: (i) =>
      Promise.resolve({
        cookie: `perform:${i.migrationId}`,
        stats: { downtimeMs: 40, bytes: 1_000_000, passes: 3, totalTimeMs: 900 },
        digest: SOURCE_DIGEST,
      }),
    srcSetSpeed: () => Promise.resolve(),
    dstFinish: (i) =>
      Promise.resolve(
        i.cancelled
          ? { cookie: '', digest: null }
          : { cookie: `finish:${i.migrationId}`, digest: SOURCE_DIGEST },
      ),
    srcConfirm: (i) => Promise.resolve({ action: i.cancelled ? ('resumed' as const) : ('killed' as const) }),
    keepAutokill: () => untilCancelled(),
    recordMigrationEnded: () => Promise.resolve(),
  };
}

/** A refusal, as activities/migration/refuse.ts makes them: typed, never retried. */
export function refusal(type: string, message: string, details?: unknown): ApplicationFailure {
  return ApplicationFailure.create({
    type,
    message,
    nonRetryable: true,
    details: details === undefined ? undefined : [details],
  });
}

/** Heartbeats until the workflow cancels this activity, then fails as cancelled. */
export async function untilCancelled(): Promise<never> {
  const ctx = Context.current();
  const beat = setInterval(() => ctx.heartbeat(), 50);
  try {
    ctx.heartbeat();
    return await ctx.cancelled;
  } finally {
    clearInterval(beat);
  }
}

export interface Call {
  /** The activity, with `:cancelled` for the compensating Finish and Confirm. */
  name: string;
  input: Record<string, unknown>;
  /** How it ended: ok, failed (with the error's type) or cancelled. */
  ended?: string;
  startedAt: number;
  endedAt?: number;
}

export interface Migration {
  migrationId: string;
  source: string;
  destination: string;
  calls: Call[];
  handle: WorkflowHandle<typeof migrate>;
  /** Resolves when an activity of this name has started (its nth call, from 1). */
  started(name: string, nth?: number): Promise<Call>;
  /** Stops the destination's worker: from now on its task queue has nobody to pick phases up. */
  stopDestination(): Promise<void>;
  /**
   * Aborts the migration (cancels its workflow) and returns once a workflow task has handled the
   * abort: whatever the workflow decided on it (cancelling an activity, rolling back) is in its
   * history by then.
   */
  abort(): Promise<void>;
  /** The warnings and errors the workflow logged. */
  warnings(): string[];
}

export interface RunOptions {
  fakes?: Partial<Fakes>;
  input?: Partial<MigrateInput>;
  /** Hosts with no worker at all: their phases are never picked up. */
  down?: ('source' | 'destination')[];
  /** What the test does while the migration runs. */
  drive?: (m: Migration) => Promise<void>;
}

export interface Ran extends Migration {
  /** The workflow's result, or undefined if it failed. */
  report: MigrationReport | undefined;
  /** What handle.result() threw, if it did. */
  failure: unknown;
  /**
   * The activities the workflow scheduled, in its history's order (deterministic, unlike the order
   * in which workers on different task queues happen to start them), e.g. ['srcBegin',
   * 'dstFinish:cancelled']; retries are one entry. The controller's end event is a local activity
   * (a marker, not a scheduled activity): see `ended`.
   */
  scheduled: string[];
  /** `schedule`, `cancel` and `cancelled` of each activity, in the history's order. */
  activities: string[];
  /** The workflow's own decisions among them (`schedule`, `cancel`): their order is deterministic. */
  commands: string[];
  /** The reports the controller's `migration.ended` event was given (a local activity may run again). */
  ended: MigrationReport[];
}

/**
 * Runs one migration to its end against the fakes (the controller's keepalive and its end event
 * included), with a source and a destination of its own: their `host.<name>` task queues, as the
 * workflow addresses them, are served by workers made for this migration alone.
 */
export async function runMigration(menv: MigrateEnv, opts: RunOptions = {}): Promise<Ran> {
  const { env } = menv;
  const id = randomUUID().slice(0, 8);
  const source = `src-${id}`;
  const destination = `dst-${id}`;
  const migrationId = `migration-${id}`;
  const fakes = { ...healthy(), ...opts.fakes };
  const calls: Call[] = [];
  const waiters: { name: string; nth: number; resolve: (c: Call) => void }[] = [];

  const logging = <K extends keyof Fakes>(name: K): Fakes[K] =>
    (async (input: Record<string, unknown>) => {
      const label = input.cancelled === true ? `${name}:cancelled` : name;
      const call: Call = { name: label, input, startedAt: Date.now() };
      calls.push(call);
      const nth = calls.filter((c) => c.name === call.name).length;
      for (const w of waiters.filter((x) => x.name === call.name && x.nth === nth)) w.resolve(call);
      try {
        const value = await (fakes[name] as (i: unknown) => Promise<unknown>)(input);
        call.ended = 'ok';
        call.endedAt = Date.now();
        return value;
      } catch (err) {
        call.ended = Context.current().cancellationSignal.aborted
          ? 'cancelled'
          : `failed ${(err as ApplicationFailure).type ?? (err as Error).name}`;
        call.endedAt = Date.now();
        throw err;
      }
    }) as unknown as Fakes[K];
  const pick = <K extends keyof Fakes>(names: K[]) =>
    Object.fromEntries(names.map((n) => [n, logging(n)])) as Pick<Fakes, K>;

  const common = { ...heartbeatsAtOnce, connection: env.nativeConnection };
  menv.controls.set(migrationId, pick(['keepAutokill', 'recordMigrationEnded']));
  const hosts = new Map<'source' | 'destination', Worker>();
  if (!opts.down?.includes('source')) {
    hosts.set(
      'source',
      await Worker.create({
        ...common,
        taskQueue: `host.${source}`,
        activities: pick(['srcBegin', 'srcPerform', 'srcSetSpeed', 'srcConfirm']),
      }),
    );
  }
  if (!opts.down?.includes('destination')) {
    hosts.set(
      'destination',
      await Worker.create({
        ...common,
        taskQueue: `host.${destination}`,
        activities: pick(['dstPrepare', 'dstFinish']),
      }),
    );
  }
  const workers = [...hosts.values()];
  const running = workers.map((w) => w.run());
  const handle = await env.client.workflow.start<typeof migrate>('migrate', {
    taskQueue: menv.taskQueue,
    workflowId: migrationId,
    args: [{ vm: `vm-${id}`, source, destination, ...opts.input }],
  });
  const migration: Migration = {
    migrationId,
    source,
    destination,
    calls,
    handle,
    started: (name, nth = 1) => {
      const seen = calls.filter((c) => c.name === name)[nth - 1];
      if (seen) return Promise.resolve(seen);
      return new Promise((resolve) => waiters.push({ name, nth, resolve }));
    },
    async stopDestination() {
      const w = hosts.get('destination');
      if (!w) return;
      w.shutdown();
      await running[workers.indexOf(w)];
    },
    async abort() {
      await handle.cancel();
      const deadline = Date.now() + 10_000;
      for (;;) {
        const events = (await handle.fetchHistory()).events ?? [];
        const asked = events.findIndex((e) => e.workflowExecutionCancelRequestedEventAttributes);
        if (asked >= 0 && events.slice(asked).some((e) => e.workflowTaskCompletedEventAttributes)) return;
        if (Date.now() > deadline)
          throw new Error(`${migrationId}: no workflow task handled the abort in 10 s`);
        await new Promise((r) => setTimeout(r, 25));
      }
    },
    warnings: () =>
      logged
        .filter((e) => (e.meta as { workflowId?: string } | undefined)?.workflowId === migrationId)
        .map((e) => e.message),
  };
  let report: MigrationReport | undefined;
  let failure: unknown;
  try {
    // A drive that fails fails the test as itself, not as the migration's failure.
    await opts.drive?.(migration);
    try {
      report = await handle.result();
    } catch (err) {
      failure = err;
    }
  } finally {
    for (const w of workers) if (w.getState() === 'RUNNING') w.shutdown();
    await Promise.all(running);
    menv.controls.delete(migrationId);
  }
  const activities = await activityHistory(handle);
  return {
    ...migration,
    report,
    failure,
    activities,
    commands: activities.filter((a) => !a.startsWith('cancelled ')),
    scheduled: activities.filter((a) => a.startsWith('schedule ')).map((a) => a.slice('schedule '.length)),
    ended: calls
      .filter((c) => c.name === 'recordMigrationEnded')
      .map((c) => c.input as unknown as MigrationReport),
  };
}

/**
 * The workflow's activity commands and their cancellations as its history has them, in order:
 * `schedule <name>`, `cancel <name>` (the workflow asked), `cancelled <name>` (the activity
 * acknowledged it), with `:cancelled` on the compensating Finish and Confirm.
 */
async function activityHistory(handle: WorkflowHandle): Promise<string[]> {
  const history = await handle.fetchHistory();
  const names = new Map<string, string>();
  const nameOf = (id: unknown) => names.get(String(id)) ?? '?';
  return (history.events ?? []).flatMap((e) => {
    const a = e.activityTaskScheduledEventAttributes;
    if (a) {
      const data = a.input?.payloads?.[0]?.data;
      const input = data ? (JSON.parse(Buffer.from(data).toString('utf8')) as { cancelled?: unknown }) : {};
      const name = `${a.activityType?.name ?? '?'}${input.cancelled === true ? ':cancelled' : ''}`;
      names.set(String(e.eventId), name);
      return [`schedule ${name}`];
    }
    const requested = e.activityTaskCancelRequestedEventAttributes;
    if (requested) return [`cancel ${nameOf(requested.scheduledEventId)}`];
    const acknowledged = e.activityTaskCanceledEventAttributes;
    if (acknowledged) return [`cancelled ${nameOf(acknowledged.scheduledEventId)}`];
    return [];
  });
}

/** The first call of this name (throws if there is none, so a test names what it expected). */
export function call(ran: Ran, name: string): Call {
  const c = ran.calls.find((x) => x.name === name);
  if (!c) throw new Error(`${name} never ran; ran: ${ran.calls.map((x) => x.name).join(', ')}`);
  return c;
}

/** A promise and its resolve, for a fake that waits until the test lets it go. */
export function latch(): { promise: Promise<void>; open: () => void } {
  let open!: () => void;
  const promise = new Promise<void>((r) => (open = r));
  return { promise, open };
}

/** The phases of a report as `name:mode:result`, e.g. 'finish:cancelled:ok'. */
export function phases(report: MigrationReport | undefined): string[] {
  return (report?.phases ?? []).map((p) => `${p.name}:${p.mode}:${p.result}`);
}

/** Waits until the migration's progress query says `state`, or fails after `ms`. */
export async function waitForState(
  m: Migration,
  state: 'held' | 'compensating' | 'running' | 'done',
  ms = 10_000,
): Promise<void> {
  const deadline = Date.now() + ms;
  for (;;) {
    const view = await m.handle.query(progress);
    if (view.state === state) return;
    if (Date.now() > deadline)
      throw new Error(`${m.migrationId}: still ${view.state} after ${ms} ms, not ${state}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

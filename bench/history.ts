// `npm run bench -- history [--json] [id=MIGRATION]`: where one migration's time went, from its
// Temporal history: each transition with its time from the start and from the one before, and per
// phase the time to dispatch its activity, to run it, and the workflow task after it. Without an
// id, the newest completed migration. It reads; it starts nothing.
import type { WorkflowHandle } from '@temporalio/client';
import { z } from 'zod';
import { loadConfig } from '../infra/config.ts';
import { connectClient } from '../infra/temporal/connect.ts';
import type { BenchContext, Figures } from './run.ts';

type HistoryEvent = NonNullable<Awaited<ReturnType<WorkflowHandle['fetchHistory']>>['events']>[number];

const IdSchema = z.string().regex(/^[A-Za-z0-9._:-]{1,200}$/, 'a migration id, as ferry migrate prints it');

export default async function historyBench(ctx: BenchContext): Promise<Figures> {
  const id = parseId(ctx.args);
  const client = await connectClient(loadConfig());
  try {
    const workflowId = id ?? (await newestCompleted(client));
    const history = await client.workflow.getHandle(workflowId).fetchHistory();
    const events = history.events ?? [];
    const t0 = millis(events[0]?.eventTime);
    let prev = t0;
    const activities = new Map<
      string,
      { name: string; scheduled: number; started?: number; done?: number }
    >();
    for (const e of events) {
      const t = millis(e.eventTime);
      const name =
        e.activityTaskScheduledEventAttributes?.activityType?.name ??
        e.markerRecordedEventAttributes?.markerName ??
        '';
      ctx.log(`${String(t - t0).padStart(6)} ms ${`+${t - prev}`.padStart(6)}  ${eventName(e)} ${name}`);
      prev = t;
      const id = String(e.eventId ?? '');
      if (e.activityTaskScheduledEventAttributes) activities.set(id, { name, scheduled: t });
      const started = e.activityTaskStartedEventAttributes?.scheduledEventId;
      if (started) activities.get(String(started))!.started = t;
      const done =
        e.activityTaskCompletedEventAttributes?.scheduledEventId ??
        e.activityTaskFailedEventAttributes?.scheduledEventId;
      if (done) activities.get(String(done))!.done = t;
    }
    const phases = Object.fromEntries(
      [...activities.values()]
        .filter((a) => a.started !== undefined && a.done !== undefined)
        .map((a) => [a.name, { dispatchMs: a.started! - a.scheduled, runMs: a.done! - a.started! }]),
    );
    return { workflowId, totalMs: prev - t0, events: events.length, phases };
  } finally {
    await client.connection.close();
  }
}

async function newestCompleted(client: Awaited<ReturnType<typeof connectClient>>): Promise<string> {
  const query = "WorkflowType = 'migrate' AND ExecutionStatus = 'Completed'";
  for await (const w of client.workflow.list({ query })) return w.workflowId;
  throw new z.ZodError([
    {
      code: 'custom',
      path: ['id'],
      message: 'no completed migration in Temporal; give id=MIGRATION',
      input: '',
    },
  ]);
}

function parseId(args: string[]): string | undefined {
  const unknown = args.find((a) => !a.startsWith('id='));
  if (unknown !== undefined) {
    throw new z.ZodError([
      { code: 'custom', path: [unknown], message: 'bench history takes id=MIGRATION only', input: unknown },
    ]);
  }
  const raw = args.find((a) => a.startsWith('id='))?.slice('id='.length);
  return raw === undefined ? undefined : IdSchema.parse(raw);
}

function millis(t: HistoryEvent['eventTime']): number {
  return Number(t?.seconds ?? 0) * 1000 + Math.floor((t?.nanos ?? 0) / 1e6);
}

function eventName(e: HistoryEvent): string {
  const attrs = Object.keys(e).find((k) => k.endsWith('EventAttributes') && e[k as keyof typeof e]);
  return attrs ? attrs.replace(/EventAttributes$/, '') : `event ${String(e.eventType)}`;
}

// Each agent ships its own outbox a moment after recording, so right after a migration ends the
// log may not hold its last events yet. Whoever audits a run it just made (the demo, the drills)
// waits here until the log shows every one of its migrations ended, with its source's Confirm,
// before judging; a log that never catches up is itself worth saying.
import { setTimeout as sleep } from 'node:timers/promises';
import type { Config } from '../infra/config.ts';
import { runAudit, type AuditRunOptions } from './audit-run.ts';

export async function waitForMigrationsInLog(
  cfg: Config,
  scope: Pick<AuditRunOptions, 'vms' | 'since' | 'topic'>,
  migrationIds: string[],
  timeoutMs = 30_000,
): Promise<{ caughtUp: boolean; missing: string[] }> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const r = await runAudit(cfg, { ...scope, live: false });
    const missing = migrationIds.filter((id) => {
      const m = r.state.migrations.get(id);
      // A migration no agent ever picked up has no phase to wait for; any other ends with Confirm.
      return !(m?.ended && (m.phases.length === 0 || m.phases.some((p) => p.phase === 'confirm')));
    });
    if (missing.length === 0) return { caughtUp: true, missing };
    if (Date.now() > deadline) return { caughtUp: false, missing };
    await sleep(500);
  }
}

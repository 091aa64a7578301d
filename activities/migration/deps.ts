// What the phase activities of one host need: its identity and guests, the data plane, the event
// outbox, and the Redis stores that say who may act now (jobs, disk leases, autokill, nonces).
import type { HostIdentity } from '../../hosts/agent/identity.ts';
import type { MigrationDeps } from '../../hosts/agent/migration.ts';
import type { AutokillLeases } from '../../infra/redis/autokill.ts';
import type { CookieNonces } from '../../infra/redis/cookie-nonces.ts';
import type { DrainMarks } from '../../infra/redis/draining.ts';
import type { FinishedMigrations } from '../../infra/redis/finished-migrations.ts';
import type { GuestLeases } from '../../hosts/agent/recorded-leases.ts';
import type { JobStore } from '../../infra/redis/jobs.ts';
import type { Placements } from '../../infra/redis/placement.ts';
import type { IncomingGuard } from '../../hosts/agent/autokill-reaper.ts';
import type { CookieKeySource } from '../../protocol/cookie/index.ts';
import type { TransferProgress } from '../../protocol/migration.ts';

export interface PhaseDeps extends MigrationDeps {
  identity: HostIdentity;
  /** Memory this host offers to guests. */
  memoryMiB: number;
  placements: Placements;
  /** Prepare refuses a host that is draining. */
  drainMarks: DrainMarks;
  finished: FinishedMigrations;
  jobs: JobStore;
  leases: GuestLeases;
  autokill: AutokillLeases;
  nonces: CookieNonces;
  /** The cluster's cookie keys: the keyring's (rotating, with ids) or the one cluster secret. */
  cookieKeys: CookieKeySource;
  guard: IncomingGuard;
  /** Sends Perform's progress to the migration workflow (best effort). */
  reportTransfer(migrationId: string, progress: TransferProgress): Promise<void>;
}

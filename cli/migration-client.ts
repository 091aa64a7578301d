// What the migration commands share: where a VM runs, the controller, and a migration's handle.
import { WorkflowNotFoundError, type Client } from '@temporalio/client';
import type { Redis } from 'ioredis';
import { CONTROL_TASK_QUEUE } from '../workers/controller/queue.ts';
import { FerryError } from '../errors/ferry-error.ts';
import { HostRegistry } from '../hosts/agent/registration.ts';
import { placementOf } from '../infra/redis/placement.ts';
import type { migrate } from '../workflows/migrate.ts';
import type { MigrateInput } from '../protocol/migration.ts';

export class MigrationCommandError extends FerryError {
  readonly code = 'MIGRATION_REFUSED';
}

/** Checks what the CLI can check before starting: the VM exists, the destination is up and another host. */
export async function resolveMigration(redis: Redis, vm: string, to: string): Promise<{ source: string }> {
  const source = await placementOf(redis, vm);
  if (!source) {
    throw new MigrationCommandError(`no guest named ${vm} in the cluster`, {
      hint: 'see `ferry guest start --help`',
    });
  }
  if (source === to) {
    throw new MigrationCommandError(`${vm} already runs on ${to}`, {
      hint: 'choose another destination host',
    });
  }
  if (!(await new HostRegistry(redis).read(to))) {
    throw new MigrationCommandError(`host ${to} is not up (no live agent registered under that name)`, {
      hint: `start it with \`ferry host start ${to} --detach\``,
    });
  }
  return { source };
}

export function startMigration(client: Client, migrationId: string, input: MigrateInput) {
  return client.workflow.start<typeof migrate>('migrate', {
    taskQueue: CONTROL_TASK_QUEUE,
    workflowId: migrationId,
    args: [input],
  });
}

/**
 * Runs `act` on migration `id`; an id Temporal does not know is one line (the operator mistyped it,
 * or it is older than the namespace's retention), not Temporal's stack trace.
 */
export async function onMigration<T>(id: string, act: () => Promise<T>): Promise<T> {
  try {
    return await act();
  } catch (err) {
    if (!(err instanceof WorkflowNotFoundError)) throw err;
    throw new MigrationCommandError(`no migration ${id}`, {
      hint: 'give the id `ferry migrate` printed (m-VM-…)',
    });
  }
}

// The QMP commands the emulated guest answers, each with a zod schema for its arguments and the
// refusals QEMU makes (same error class, same wording where QEMU has one).
import { z } from 'zod';
import { QmpError, generic } from './errors.ts';
import type { EmulatedGuest } from './guest.ts';
import { IncomingMigration } from './incoming.ts';
import {
  CAPABILITIES,
  applyCapabilities,
  setCapabilitiesSchema,
  setParametersSchema,
} from './migration-config.ts';
import { MIGRATION_STATUSES, isMigrationRunning } from './migration-status.ts';
import { OutgoingMigration } from './outgoing.ts';

interface Command<S extends z.ZodType> {
  args: S;
  run(guest: EmulatedGuest, args: z.output<S>): unknown;
}

const none = z.strictObject({});
const define = <S extends z.ZodType>(c: Command<S>): Command<z.ZodType> => c;

/** "unix:PATH" is the one transport the emulated guest speaks. */
function unixPath(uri: string): string {
  if (!uri.startsWith('unix:') || uri.length === 5) {
    throw generic(`Migration URI '${uri}' is not supported by the emulated guest (only unix:PATH)`);
  }
  return uri.slice(5);
}

export const COMMANDS: Record<string, Command<z.ZodType>> = {
  'query-status': define({
    args: none,
    run: (g) => ({ status: g.runState, singlestep: false, running: g.runState === 'running' }),
  }),

  stop: define({
    args: none,
    run: (g) => {
      // qmp_stop: on an incoming guest it only cancels the autostart; a guest not running stays as it is.
      if (g.runState === 'inmigrate') g.autostart = false;
      else if (g.runState === 'running') g.setRunState('paused');
      return {};
    },
  }),

  cont: define({
    args: none,
    run: (g) => {
      switch (g.runState) {
        case 'inmigrate':
          g.autostart = true; // qmp_cont: run once the incoming migration completes
          return {};
        case 'running':
          return {};
        case 'finish-migrate':
          // QEMU would let it through; resuming under a switchover would fork the guest's memory.
          throw generic('The guest is stopped for a migration switchover and cannot be resumed now');
        case 'shutdown':
          throw generic('Resetting the Virtual Machine is required');
        default:
          g.setRunState('running');
          return {};
      }
    },
  }),

  quit: define({
    args: none,
    run: (g) => {
      setImmediate(() => g.exit(0, 'host-qmp-quit')); // after the reply has been written
      return {};
    },
  }),

  migrate: define({
    args: z.strictObject({
      uri: z.string(),
      blk: z.boolean().optional(),
      inc: z.boolean().optional(),
      detach: z.boolean().optional(),
      resume: z.boolean().optional(),
    }),
    run: (g, args: { uri: string; blk?: boolean; inc?: boolean; resume?: boolean }) => {
      if (g.runState === 'inmigrate') throw generic('Guest is waiting for an incoming migration');
      if (g.outgoing !== null && isMigrationRunning(g.outgoing.status)) {
        throw generic("There's a migration process in progress");
      }
      if (args.resume === true) throw generic('Cannot resume if there is no paused migration');
      if (args.blk === true || args.inc === true)
        throw generic('block migration is not supported by the emulated guest');
      const path = unixPath(args.uri);
      g.outgoing = new OutgoingMigration(g, path);
      g.outgoing.start();
      return {};
    },
  }),

  'migrate-incoming': define({
    args: z.strictObject({ uri: z.string() }),
    run: async (g, args: { uri: string }) => {
      if (g.spec.incoming !== 'defer') throw generic("'-incoming' was not specified on the command line");
      if (g.incoming !== null) throw generic('The incoming migration has already been started');
      const incoming = new IncomingMigration(g, unixPath(args.uri));
      g.incoming = incoming;
      try {
        await incoming.listen();
      } catch (err) {
        g.incoming = null;
        throw err;
      }
      return {};
    },
  }),

  migrate_cancel: define({
    args: none,
    run: (g) => {
      g.outgoing?.cancel();
      return {};
    },
  }),

  'migrate-continue': define({
    args: z.strictObject({ state: z.enum(MIGRATION_STATUSES) }),
    run: (g, args: { state: string }) => {
      if (g.outgoing === null) throw generic('Migration not in expected state: none');
      g.outgoing.continueFrom(args.state);
      return {};
    },
  }),

  'query-migrate': define({
    args: none,
    run: (g) => {
      // An outgoing migration can only start once the incoming one is over, and then it is what is
      // asked about: a guest that arrived by migration must not report that migration's
      // `completed` for its next one (its source agent would take the digest at the "stop" while
      // the guest still ran, and every second hop failed its digest check at Finish).
      if (g.outgoing !== null) return g.outgoing.info();
      // Like fill_destination_migration_info: an incoming migration, once started, is what is reported.
      if (g.incoming !== null && g.incoming.status !== 'none') return g.incoming.info();
      return {};
    },
  }),

  'migrate-set-parameters': define({
    args: setParametersSchema,
    run: (g, args: z.output<typeof setParametersSchema>) => {
      // Takes effect at once, also for a running migration (its next rate-limit window).
      const changes = Object.fromEntries(Object.entries(args).filter(([, v]) => v !== undefined));
      g.params = { ...g.params, ...changes };
      g.log.info('migration parameters set', changes);
      return {};
    },
  }),

  'query-migrate-parameters': define({ args: none, run: (g) => ({ ...g.params }) }),

  'migrate-set-capabilities': define({
    args: setCapabilitiesSchema,
    run: (g, args: z.output<typeof setCapabilitiesSchema>) => {
      if ((g.outgoing !== null && isMigrationRunning(g.outgoing.status)) || g.incoming?.status === 'active') {
        throw generic("There's a migration process in progress");
      }
      g.caps = applyCapabilities(g.caps, args.capabilities);
      return {};
    },
  }),

  'query-migrate-capabilities': define({
    args: none,
    run: (g) => CAPABILITIES.map((capability) => ({ capability, state: g.caps[capability] })),
  }),

  'x-ferry-digest': define({ args: none, run: (g) => g.digest() }),

  'query-commands': define({
    args: none,
    run: () => [...Object.keys(COMMANDS), 'qmp_capabilities'].map((name) => ({ name })),
  }),
};

/** Finds the command, checks its arguments, runs it. */
export function dispatch(guest: EmulatedGuest, name: string, args: Record<string, unknown>): unknown {
  const command = COMMANDS[name];
  if (command === undefined) throw new QmpError('CommandNotFound', `The command ${name} has not been found`);
  const parsed = command.args.safeParse(args);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    if (issue?.code === 'unrecognized_keys')
      throw generic(`Parameter '${issue.keys[0] ?? ''}' is unexpected`);
    const where = issue?.path.join('.') ?? '';
    throw generic(
      where === ''
        ? `Invalid arguments: ${issue?.message ?? ''}`
        : `Parameter '${where}': ${issue?.message ?? 'invalid'}`,
    );
  }
  return command.run(guest, parsed.data);
}

// The top-level commands, and where each is defined. main.ts loads only the module of the command
// that runs: loading every command's dependencies (Temporal's client, kafkajs, ioredis, zod) cost
// about a second before `ferry --help` could print a line. `ferry --help` lists this table alone.
// test/unit/cli-commands.test.ts checks it against the modules (names and summaries).
import type { Command } from 'commander';

type Register = (program: Command) => void;

export interface CommandEntry {
  name: string;
  /** The command's description, as its module sets it (shown by `ferry --help`). */
  summary: string;
  load: () => Promise<Register>;
}

export const COMMANDS: readonly CommandEntry[] = [
  {
    name: 'stack',
    summary: 'start, stop and inspect the local Temporal, Kafka and Redis',
    load: async () => (await import('./stack.ts')).registerStack,
  },
  {
    name: 'pki',
    summary: "the cluster's certificate authority and the identities it issues",
    load: async () => (await import('./pki.ts')).registerPki,
  },
  {
    name: 'demo',
    summary:
      'npm start: the stack, four hosts, a dozen guests, a few migrations, a drain, and the audit of it all',
    load: async () => (await import('./demo.ts')).registerDemo,
  },
  {
    name: 'savevm',
    summary: 'QEMU migration (savevm) streams',
    load: async () => (await import('./savevm.ts')).registerSavevm,
  },
  {
    name: 'host',
    summary: 'start and stop host agents',
    load: async () => (await import('./host.ts')).registerHost,
  },
  {
    name: 'guest',
    summary: 'start, stop and inspect guests',
    load: async () => (await import('./guest.ts')).registerGuest,
  },
  {
    name: 'controller',
    summary: 'the worker that runs migration workflows',
    load: async () => (await import('./controller.ts')).registerController,
  },
  {
    name: 'migrate',
    summary:
      'live-migrate a VM to another host (libvirt migration v3: begin, prepare, perform, finish, confirm)',
    load: async () => (await import('./migrate.ts')).registerMigrate,
  },
  {
    name: 'migration',
    summary: 'query, tune or abort a running migration',
    load: async () => (await import('./migrate.ts')).registerMigrate,
  },
  {
    name: 'audit',
    summary: 'check the event log against the invariants (docs/architecture.md) and the live state',
    load: async () => (await import('./audit.ts')).registerAudit,
  },
  {
    name: 'events',
    summary: 'read the event log',
    load: async () => (await import('./events.ts')).registerEvents,
  },
  {
    name: 'drain',
    summary:
      'live-migrate every guest off a host (it takes no new guests from now on, until `ferry undrain`)',
    load: async () => (await import('./drain.ts')).registerDrain,
  },
  {
    name: 'undrain',
    summary: 'lift the drain mark of a host (refused while its drain runs)',
    load: async () => (await import('./drain.ts')).registerDrain,
  },
  {
    name: 'rebalance',
    summary: 'live-migrate guests off hosts above a memory-load threshold onto hosts below it',
    load: async () => (await import('./rebalance.ts')).registerRebalance,
  },
  {
    name: 'status',
    summary: 'hosts, guests and migrations in flight, with progress bars that update',
    load: async () => (await import('./status.ts')).registerStatus,
  },
  {
    name: 'drill',
    summary: 'crash-recovery drills: a real fault at a real moment of a migration, then the verdict',
    load: async () => (await import('./drill.ts')).registerDrill,
  },
  {
    name: 'secret',
    summary: "rotate the cluster's cookie key and the payload codec's key (the keyring in Redis)",
    load: async () => (await import('./secret.ts')).registerSecret,
  },
  {
    name: 'codec',
    summary: 'serve the payload codec to the Temporal UI, so operators read encrypted payloads',
    load: async () => (await import('./codec.ts')).registerCodec,
  },
  {
    name: 'lab',
    summary: 'hosts in network namespaces of their own on this machine, partitioned for real (root)',
    load: async () => (await import('./lab.ts')).registerLab,
  },
];

/** The entry of the command `argv` (process.argv) runs, if it names one: `help X` counts as X. */
export function requestedCommand(argv: readonly string[]): CommandEntry | undefined {
  const words = argv.slice(2).filter((a) => !a.startsWith('-'));
  const name = words[0] === 'help' ? words[1] : words[0];
  return COMMANDS.find((c) => c.name === name);
}

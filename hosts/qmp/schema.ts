// The QMP messages ferry uses, as zod schemas: what QEMU (or the emulated guest) sends is checked,
// not trusted. Commands list their arguments and the shape of their return value.
import { z } from 'zod';

export const greetingSchema = z.object({
  QMP: z.looseObject({
    version: z.looseObject({
      qemu: z.object({ major: z.number(), minor: z.number(), micro: z.number() }),
      package: z.string().optional(),
    }),
    capabilities: z.array(z.string()),
  }),
});
export type QmpGreeting = z.infer<typeof greetingSchema>;

export const responseSchema = z.union([
  z.object({ return: z.unknown(), id: z.unknown().optional() }),
  z.object({ error: z.object({ class: z.string(), desc: z.string() }), id: z.unknown().optional() }),
]);

export const eventSchema = z.object({
  event: z.string(),
  data: z.record(z.string(), z.unknown()).optional(),
  timestamp: z.object({ seconds: z.number(), microseconds: z.number() }),
});
export type QmpEvent = z.infer<typeof eventSchema>;

const empty = z.object({});

const ramStats = z.looseObject({
  transferred: z.number(),
  remaining: z.number(),
  total: z.number(),
  duplicate: z.number(),
  normal: z.number(),
  'normal-bytes': z.number(),
  'dirty-sync-count': z.number(),
  'page-size': z.number().optional(),
  mbps: z.number().optional(),
  'pages-per-second': z.number().optional(),
  'dirty-pages-rate': z.number().optional(),
});

export const migrationInfoSchema = z.looseObject({
  status: z.string().optional(),
  ram: ramStats.optional(),
  'total-time': z.number().optional(),
  'setup-time': z.number().optional(),
  'expected-downtime': z.number().optional(),
  downtime: z.number().optional(),
  'error-desc': z.string().optional(),
});
export type MigrationInfo = z.infer<typeof migrationInfoSchema>;

/** The commands ferry sends: arguments (TypeScript) and return value (zod, checked at run time). */
export const commandReturns = {
  qmp_capabilities: empty,
  'query-status': z.looseObject({ status: z.string(), running: z.boolean() }),
  stop: empty,
  cont: empty,
  quit: empty,
  migrate: empty,
  'migrate-incoming': empty,
  migrate_cancel: empty,
  'query-migrate': migrationInfoSchema,
  'migrate-set-capabilities': empty,
  'migrate-set-parameters': empty,
  'migrate-continue': empty,
  'query-migrate-parameters': z.looseObject({}),
  'query-migrate-capabilities': z.array(z.object({ capability: z.string(), state: z.boolean() })),
  pmemsave: empty,
  'human-monitor-command': z.string(),
  /** ferry's vendor command (emulated guests): a digest of guest memory and device state. */
  'x-ferry-digest': z.object({ digest: z.string().regex(/^[0-9a-f]{64}$/), bytes: z.number() }),
} as const;

export interface QmpCommandArgs {
  qmp_capabilities: undefined;
  'query-status': undefined;
  stop: undefined;
  cont: undefined;
  quit: undefined;
  migrate: { uri: string; detach?: boolean; resume?: boolean };
  'migrate-incoming': { uri: string };
  migrate_cancel: undefined;
  'query-migrate': undefined;
  'migrate-set-capabilities': { capabilities: { capability: string; state: boolean }[] };
  'migrate-set-parameters': Record<string, string | number | boolean>;
  'migrate-continue': { state: string };
  'query-migrate-parameters': undefined;
  'query-migrate-capabilities': undefined;
  pmemsave: { val: number; size: number; filename: string };
  'human-monitor-command': { 'command-line': string };
  'x-ferry-digest': undefined;
}

export type QmpCommand = keyof typeof commandReturns;
export type QmpReturn<C extends QmpCommand> = z.infer<(typeof commandReturns)[C]>;

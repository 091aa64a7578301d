// The data-plane half of a migration, as plain functions the v3 phases call on each host:
// prepareIncoming (destination: a paused incoming guest behind a one-time tunnel token),
// migrateOut (source: the guest migrates through the tunnel, watched for progress), and
// waitIncoming (destination: the stream arrived whole and the guest loaded it).
import { BandwidthRangeError } from '../../protocol/bandwidth.ts';
import { setTimeout as sleep } from 'node:timers/promises';
import { FerryError } from '../../errors/ferry-error.ts';
import type { MigrationInfo } from '../qmp/schema.ts';
import {
  openSourceTunnel,
  type DestinationTunnel,
  type TunnelListener,
  type TunnelTls,
} from '../tunnel/index.ts';
import { guestMemoryDigest } from './digest.ts';
import type { GuestManager } from './guests.ts';
import type { Outbox } from '../outbox/outbox.ts';
import { tunnelEventRecorder } from './tunnel-events.ts';

export class MigrationError extends FerryError {
  constructor(
    readonly code: 'MIGRATION_FAILED' | 'MIGRATION_NO_PROGRESS' | 'MIGRATION_UNKNOWN' | 'MIGRATION_ABORTED',
    readonly vm: string,
    readonly host: string,
    readonly side: 'source' | 'destination',
    message: string,
    options?: { cause?: unknown; hint?: string },
  ) {
    super(`migration of ${vm} (${side} ${host}): ${message}`, options);
  }
}

export interface MigrationDeps {
  host: string;
  guests: GuestManager;
  tunnels: TunnelListener;
  outbox: Outbox;
  /** The data-plane port other hosts are told (the listener's own unless a proxy fronts it). */
  advertisedPort?: number;
  /** The data-plane address other hosts are told, when it is not the listener's (NAT, a DNS name). */
  advertisedHost?: string;
  /** Outgoing streams leave from this host's data-plane address, as a real host's traffic does. */
  localAddress?: string;
  /** Security on: outgoing tunnels are mutual TLS as this host (the listener has the same). */
  tunnelTls?: TunnelTls;
}

export interface PrepareIncomingInput {
  migrationId: string;
  vm: string;
  kind: 'emulated' | 'qemu';
  memoryMiB: number;
  dirtyPagesPerSecond?: number;
  disks?: string[];
  tokenTtlMs?: number;
  /** The source host the Prepare cookie names: with TLS, the only host the tunnel admits. */
  source?: string;
}

export interface IncomingTicket {
  host: string;
  dataHost: string;
  dataPort: number;
  token: string;
}

export interface MigrateOutInput {
  migrationId: string;
  vm: string;
  destination: { host: string; port: number };
  token: string;
  /** The host the Prepare cookie came from: with TLS, the destination's certificate must name it. */
  destinationHost?: string;
  maxBandwidthBytesPerSec?: number;
  downtimeLimitMs?: number;
  /** The agent's own cap on the tunnel (the data plane throttles, as well as QEMU's max-bandwidth). */
  tunnelBandwidthBytesPerSec?: number;
  /** The migration fails (and is cancelled) when `remaining` has not shrunk for this long. */
  progressTimeoutMs: number;
  /** Aborted (domjobabort, a completion timeout): QEMU's migration is cancelled and the source keeps running. */
  signal?: AbortSignal;
}

export interface MigrationProgress {
  status: string;
  transferred: number;
  remaining: number;
  passes: number;
  expectedDowntimeMs: number;
}

export interface MigrateOutResult extends MigrationProgress {
  totalTimeMs: number;
  downtimeMs: number;
  /** The guest's memory digest at the stop (the source stays paused after a completed migration). */
  digest: string;
}

/** Perform's query-migrate interval when no MIGRATION event comes first (progress, heartbeats). */
const POLL_MS = 200;

const incoming = new Map<string, { tunnel: DestinationTunnel; stopWatching: () => void }>();

export async function prepareIncoming(
  deps: MigrationDeps,
  input: PrepareIncomingInput,
): Promise<IncomingTicket> {
  const { guests, outbox, tunnels } = deps;
  await guests.start(
    {
      vm: input.vm,
      kind: input.kind,
      memoryMiB: input.memoryMiB,
      dirtyPagesPerSecond: input.dirtyPagesPerSecond ?? 0,
      ...(input.disks ? { disks: input.disks } : {}),
      paused: true,
      incoming: true,
    },
    input.migrationId,
  );
  const { incoming: socket } = guests.migrationSockets(input.vm);
  const qmp = guests.qmp(input.vm);
  // The destination's side of the story: QMP MIGRATION events (QEMU sends them only with `events` on).
  await qmp.execute('migrate-set-capabilities', { capabilities: [{ capability: 'events', state: true }] });
  const stopWatching = qmp.onEvent((e) => {
    if (e.event !== 'MIGRATION') return;
    const status = String((e.data as { status?: string } | undefined)?.status ?? 'unknown');
    outbox.record({
      type: 'migration.status',
      vm: input.vm,
      migrationId: input.migrationId,
      data: { side: 'destination', status },
    });
  });
  await qmp.execute('migrate-incoming', { uri: `unix:${socket}` });
  const expectation = tunnels.expect({
    migrationId: input.migrationId,
    vm: input.vm,
    target: socket,
    ttlMs: input.tokenTtlMs ?? 60_000,
    ...(input.source === undefined ? {} : { peer: input.source }),
    onEvent: tunnelEventRecorder(outbox),
  });
  // The completion is awaited by waitIncoming; a failure before then must not go unhandled.
  expectation.tunnel.completion.catch(() => undefined);
  incoming.set(input.migrationId, { tunnel: expectation.tunnel, stopWatching });
  return {
    host: deps.host,
    dataHost: deps.advertisedHost ?? expectation.address.host,
    dataPort: deps.advertisedPort ?? expectation.address.port,
    token: expectation.token,
  };
}

export async function migrateOut(
  deps: MigrationDeps,
  input: MigrateOutInput,
  heartbeat: (p: MigrationProgress) => void,
): Promise<MigrateOutResult> {
  const { guests, outbox, host } = deps;
  checkBytesPerSec(input.maxBandwidthBytesPerSec, `max-bandwidth of ${input.migrationId}`);
  checkBytesPerSec(input.tunnelBandwidthBytesPerSec, `tunnel bandwidth of ${input.migrationId}`);
  const qmp = guests.qmp(input.vm);
  const { outgoing } = guests.migrationSockets(input.vm);
  const tunnel = await openSourceTunnel({
    migrationId: input.migrationId,
    vm: input.vm,
    socketPath: outgoing,
    destination: input.destination,
    token: input.token,
    ...(deps.localAddress === undefined ? {} : { localAddress: deps.localAddress }),
    ...(deps.tunnelTls === undefined ? {} : { tls: deps.tunnelTls }),
    ...(input.destinationHost === undefined ? {} : { peer: input.destinationHost }),
    bandwidthLimitBytesPerSec: input.tunnelBandwidthBytesPerSec ?? null,
    onEvent: tunnelEventRecorder(outbox),
  });
  tunnel.completion.catch(() => undefined);
  const record = (status: string, error?: string) =>
    outbox.record({
      type: 'migration.status',
      vm: input.vm,
      migrationId: input.migrationId,
      data: { side: 'source', status, ...(error ? { error } : {}) },
    });
  /** Ends the current wait between two polls early: a MIGRATION event says the status changed. */
  let wake: (() => void) | undefined;
  const offPass = qmp.onEvent((e) => {
    if (e.event === 'MIGRATION_PASS') {
      const pass = Number((e.data as { pass?: number } | undefined)?.pass ?? 0);
      outbox.record({ type: 'migration.pass', vm: input.vm, migrationId: input.migrationId, data: { pass } });
    }
    if (e.event === 'MIGRATION') wake?.();
  });
  /** The poll interval, cut short by a status change or an abort. */
  const nextPoll = () =>
    new Promise<void>((resolve) => {
      const done = () => {
        clearTimeout(timer);
        input.signal?.removeEventListener('abort', done);
        wake = undefined;
        resolve();
      };
      const timer = setTimeout(done, POLL_MS);
      input.signal?.addEventListener('abort', done);
      wake = done;
    });
  try {
    // As libvirt does: with `events` on, the end of the migration is seen when it happens, not at
    // the next poll (up to 200 ms later, on every migration).
    await qmp.execute('migrate-set-capabilities', { capabilities: [{ capability: 'events', state: true }] });
    const params: Record<string, number> = {};
    if (input.maxBandwidthBytesPerSec !== undefined) params['max-bandwidth'] = input.maxBandwidthBytesPerSec;
    if (input.downtimeLimitMs !== undefined) params['downtime-limit'] = input.downtimeLimitMs;
    if (Object.keys(params).length > 0) await qmp.execute('migrate-set-parameters', params);
    await qmp.execute('migrate', { uri: `unix:${outgoing}` });
    let last = '';
    let best = Number.POSITIVE_INFINITY;
    let bestAt = Date.now();
    for (;;) {
      const info = await qmp.execute('query-migrate');
      const p = progressOf(info);
      if (p.status !== last) record((last = p.status), info['error-desc']);
      heartbeat(p);
      if (p.status === 'completed') {
        const digest = await guestMemoryDigest(guests, input.vm);
        return { ...p, totalTimeMs: info['total-time'] ?? 0, downtimeMs: info.downtime ?? 0, digest };
      }
      if (p.status === 'failed' || p.status === 'cancelled') {
        throw new MigrationError(
          'MIGRATION_FAILED',
          input.vm,
          host,
          'source',
          `${p.status}: ${info['error-desc'] ?? 'no reason given'}`,
        );
      }
      if (input.signal?.aborted) {
        await qmp.execute('migrate_cancel').catch(() => undefined);
        record('cancelled', 'aborted');
        throw new MigrationError(
          'MIGRATION_ABORTED',
          input.vm,
          host,
          'source',
          'aborted; the guest keeps running here',
        );
      }
      if (p.remaining < best) {
        best = p.remaining;
        bestAt = Date.now();
      } else if (Date.now() - bestAt > input.progressTimeoutMs) {
        // As libvirt's progress timeout: no headway, so cancel; the source keeps running.
        await qmp.execute('migrate_cancel').catch(() => undefined);
        record('cancelled', 'no progress');
        throw new MigrationError(
          'MIGRATION_NO_PROGRESS',
          input.vm,
          host,
          'source',
          `no progress for ${input.progressTimeoutMs} ms (remaining ${p.remaining} bytes); cancelled, the guest keeps running here`,
          { hint: 'raise the bandwidth or the downtime limit, or lower the guest dirty rate' },
        );
      }
      await nextPoll();
    }
  } catch (err) {
    await tunnel.close().catch(() => undefined);
    throw err;
  } finally {
    offPass();
  }
}

/** Waits until the stream arrived whole and the incoming guest left `inmigrate`; its digest before resume. */
export async function waitIncoming(
  deps: MigrationDeps,
  input: { migrationId: string; vm: string; timeoutMs: number },
): Promise<{ digest: string; bytes: number }> {
  const entry = incoming.get(input.migrationId);
  if (!entry && deps.guests.has(input.vm)) {
    // This agent restarted after the stream arrived: the guest itself says whether it loaded it.
    const qmp = deps.guests.qmp(input.vm);
    const [{ status }, info] = [await qmp.execute('query-status'), await qmp.execute('query-migrate')];
    if (status !== 'inmigrate' && info.status === 'completed') {
      return { digest: await guestMemoryDigest(deps.guests, input.vm), bytes: 0 };
    }
  }
  if (!entry) {
    throw new MigrationError(
      'MIGRATION_UNKNOWN',
      input.vm,
      deps.host,
      'destination',
      `no incoming migration ${input.migrationId} here`,
    );
  }
  try {
    const result = await entry.tunnel.completion;
    const qmp = deps.guests.qmp(input.vm);
    const deadline = Date.now() + input.timeoutMs;
    for (;;) {
      const { status } = await qmp.execute('query-status');
      if (status !== 'inmigrate') break;
      if (Date.now() > deadline) {
        throw new MigrationError(
          'MIGRATION_FAILED',
          input.vm,
          deps.host,
          'destination',
          'the guest did not finish loading the stream',
        );
      }
      await sleep(100);
    }
    const info = await qmp.execute('query-migrate');
    if (info.status === 'failed') {
      throw new MigrationError(
        'MIGRATION_FAILED',
        input.vm,
        deps.host,
        'destination',
        `failed: ${info['error-desc'] ?? 'no reason'}`,
      );
    }
    return { digest: await guestMemoryDigest(deps.guests, input.vm), bytes: result.bytes.toDestination };
  } finally {
    entry.stopWatching();
    incoming.delete(input.migrationId);
  }
}

function progressOf(info: MigrationInfo): MigrationProgress {
  return {
    status: info.status ?? 'none',
    transferred: info.ram?.transferred ?? 0,
    remaining: info.ram?.remaining ?? 0,
    passes: info.ram?.['dirty-sync-count'] ?? 0,
    expectedDowntimeMs: info['expected-downtime'] ?? 0,
  };
}

/** A rate in bytes per second that QEMU (or the tunnel's throttle) can be given exactly. */
function checkBytesPerSec(bytes: number | undefined, what: string): void {
  if (bytes === undefined || (Number.isSafeInteger(bytes) && bytes > 0)) return;
  throw new BandwidthRangeError(
    `${what}: ${bytes} bytes/s is out of range: 1 to ${Number.MAX_SAFE_INTEGER} (leave it out for no limit)`,
  );
}

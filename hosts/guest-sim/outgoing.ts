// The source side of a precopy migration, as QEMU's migration thread runs it: setup (header,
// return path, RAM START, first bitmap sync), passes that resend what the guest dirtied (each
// rate-limited by max-bandwidth and measured), switchover once the pending bytes fit in
// downtime-limit (and, with switchover-ack, once the destination said yes), then the stop, the
// last pages, the devices and EOF. It never gives up by itself; migrate_cancel or a stream error
// ends it, and the guest then runs on.
import { connect } from 'node:net';
import type { Socket } from 'node:net';
import { setImmediate as yieldToLoop, setTimeout as sleep } from 'node:timers/promises';
import { once } from 'node:events';
import { PAGE_SIZE } from '../savevm/constants.ts';
import { SavevmWriter } from '../savevm/writer.ts';
import { Aborter, MigrationCancelled } from './abortable.ts';
import { PageBitmap } from './bitmap.ts';
import { BUFFER_DELAY_MS, RateLimiter, shouldSwitchover } from './convergence.ts';
import { generic } from './errors.ts';
import type { EmulatedGuest } from './guest.ts';
import { RAM_BLOCK_ID } from './memory.ts';
import { canMigrationTransition, isCancellable } from './migration-status.ts';
import type { MigrationStatus } from './migration-status.ts';
import { OutgoingStats } from './outgoing-stats.ts';
import {
  MIG_RP_MSG_PONG,
  MIG_RP_MSG_SHUT,
  MIG_RP_MSG_SWITCHOVER_ACK,
  ReturnPathReader,
  openReturnPathCommands,
} from './return-path.ts';
import type { RpMessage } from './return-path.ts';

export const MACHINE = 'pc-i440fx-7.2';
/** Pages sent between two looks at the clock, the rate limit and the event loop. */
const BATCH_PAGES = 512;
/** QEMU ends an iteration's section after 50 ms even when not rate limited (MAX_WAIT). */
const MAX_SECTION_MS = 50;

export class OutgoingMigration {
  status: MigrationStatus = 'none';
  errorDesc: string | undefined;
  readonly stats = new OutgoingStats();
  private readonly aborter = new Aborter();
  private readonly bitmap: PageBitmap;
  private socket: Socket | null = null;
  private full = false;
  private returnPath = false;
  private acked = false;
  private shut: { resolve: () => void; promise: Promise<void> };
  private resume: (() => void) | null = null;
  private streamWritten = false;
  private wasRunning = false;

  constructor(
    private readonly guest: EmulatedGuest,
    private readonly path: string,
  ) {
    this.bitmap = new PageBitmap(guest.memory.pages);
    let resolve: () => void = () => undefined;
    const promise = new Promise<void>((r) => (resolve = r));
    this.shut = { resolve, promise };
  }

  /** Enters setup now (as qmp_migrate does before it returns) and runs in the background. */
  start(): void {
    this.setStatus('setup');
    void this.run();
  }

  /** migrate_cancel: cancelling now, cancelled once the stream is torn down. */
  cancel(): void {
    if (!isCancellable(this.status)) return;
    this.setStatus('cancelling');
    this.aborter.abort(new MigrationCancelled());
  }

  /** migrate-continue: leaves the pre-switchover pause. */
  continueFrom(state: string): void {
    if (this.status !== state || this.resume === null) {
      throw generic(`Migration not in expected state: ${this.status}`);
    }
    this.resume();
    this.resume = null;
  }

  info(): object {
    return this.stats.info(
      this.status,
      this.bitmap.count * PAGE_SIZE,
      this.guest.memory.bytes,
      this.errorDesc,
    );
  }

  private async run(): Promise<void> {
    try {
      await this.connect();
      const writer = this.precopySetup();
      await this.iterate(writer);
      await this.complete(writer);
    } catch (err) {
      this.finishWithError(err as Error);
    }
  }

  private async connect(): Promise<void> {
    const socket = connect(this.path);
    this.socket = socket;
    try {
      await this.aborter.guard(
        new Promise<void>((resolve, reject) => {
          socket.once('connect', resolve);
          socket.once('error', reject);
        }),
      );
    } catch (err) {
      if (err instanceof MigrationCancelled) throw err;
      throw new Error(`Failed to connect to '${this.path}': ${(err as Error).message}`);
    }
    socket.on('error', (err) => this.aborter.abort(new Error(`Unable to write to socket: ${err.message}`)));
    socket.on('close', () => {
      if (!this.streamWritten || (this.returnPath && !this.shutReceived)) {
        this.aborter.abort(new Error('Unable to write to socket: connection closed by the destination'));
      }
    });
    socket.on('drain', () => (this.full = false));
    this.returnPath = this.guest.caps['return-path'];
    const reader = new ReturnPathReader();
    socket.on('data', (chunk: Buffer) => {
      if (!this.returnPath) return; // without a return path QEMU never reads the socket
      try {
        for (const m of reader.push(chunk)) this.onReturnPath(m);
      } catch (err) {
        this.aborter.abort(err as Error);
      }
    });
  }

  private shutReceived = false;

  private onReturnPath(m: RpMessage): void {
    switch (m.type) {
      case MIG_RP_MSG_SHUT: {
        this.shutReceived = true;
        const value = m.data.readUInt32BE(0);
        if (value !== 0)
          this.aborter.abort(new Error(`the destination failed to load the stream (SHUT ${value})`));
        this.shut.resolve();
        return;
      }
      case MIG_RP_MSG_PONG:
        this.guest.log.debug('return path: pong', { value: m.data.readUInt32BE(0) });
        return;
      case MIG_RP_MSG_SWITCHOVER_ACK:
        if (!this.guest.caps['switchover-ack']) {
          this.aborter.abort(new Error('Received SWITCHOVER_ACK but switchover-ack is not enabled'));
          return;
        }
        this.guest.log.info('switchover acked by the destination');
        this.acked = true;
        return;
      default:
        this.aborter.abort(new Error(`Received unexpected return path message ${m.name} during precopy`));
    }
  }

  /** Header, return path, RAM START, the first sync: everything is dirty at the start. */
  private precopySetup(): SavevmWriter {
    const memory = this.guest.memory;
    const writer = new SavevmWriter(
      { machine: MACHINE, blocks: [{ id: RAM_BLOCK_ID, length: memory.bytes }], chunkBytes: 64 * 1024 },
      (chunk) => this.write(chunk),
    );
    writer.header().flush();
    if (this.returnPath) this.write(openReturnPathCommands());
    this.bitmap.setAll();
    this.guest.dirtyLog.clearAll();
    this.sync();
    writer.ramStart().flush();
    this.stats.setupTime = performance.now() - this.stats.startTime;
    this.setStatus('active');
    return writer;
  }

  /** Passes until the pending bytes fit in the downtime budget (and the ack, if needed, came). */
  private async iterate(writer: SavevmWriter): Promise<void> {
    const limiter = new RateLimiter(this.guest.params['max-bandwidth'], performance.now());
    for (;;) {
      await this.sendDirty(writer, limiter, false);
      this.sync();
      this.measure(performance.now());
      const pendingBytes = this.bitmap.count * PAGE_SIZE;
      const ackNeeded = this.guest.caps['switchover-ack'];
      if (
        shouldSwitchover({ pendingBytes, thresholdBytes: this.stats.threshold, ackNeeded, acked: this.acked })
      ) {
        return;
      }
      // Nothing to send but no switchover yet (waiting for the ack): do not spin.
      if (pendingBytes === 0) await this.aborter.guard(sleep(BUFFER_DELAY_MS));
    }
  }

  /**
   * Sends every page of the migration bitmap. In precopy: PART sections, each ended when the
   * rate limit is reached or after MAX_SECTION_MS. In the final stage: one END section, unlimited.
   */
  private async sendDirty(writer: SavevmWriter, limiter: RateLimiter, final: boolean): Promise<void> {
    let page = this.bitmap.nextSet(0);
    let sectionStart = -1;
    if (final) {
      writer.ramSection(true);
      sectionStart = performance.now();
    }
    while (page >= 0) {
      this.aborter.check();
      const now = performance.now();
      this.measure(now);
      limiter.maxBytesPerSecond = this.guest.params['max-bandwidth'];
      const budget = final ? Number.POSITIVE_INFINITY : limiter.budget(now);
      if (budget <= 0) {
        if (sectionStart >= 0) writer.endRamSection().flush();
        sectionStart = -1;
        await this.aborter.guard(sleep(Math.max(1, limiter.waitMs(now))));
        continue;
      }
      if (sectionStart < 0) {
        writer.ramSection(false);
        sectionStart = now;
      }
      const before = writer.bytesWritten;
      for (let n = 0; n < BATCH_PAGES && page >= 0 && writer.bytesWritten - before < budget; n++) {
        this.bitmap.clear(page);
        this.sendPage(writer, page);
        page = this.bitmap.nextSet(page + 1);
      }
      limiter.consume(writer.bytesWritten - before);
      if (!final && (page < 0 || performance.now() - sectionStart >= MAX_SECTION_MS)) {
        writer.endRamSection();
        sectionStart = -1;
      }
      writer.flush();
      await this.drained();
      await this.aborter.guard(yieldToLoop());
    }
    if (final || sectionStart >= 0) writer.endRamSection();
    writer.flush();
  }

  private sendPage(writer: SavevmWriter, page: number): void {
    const data = this.guest.memory.pageOrNull(page);
    writer.page(RAM_BLOCK_ID, page * PAGE_SIZE, data);
    if (data === null) this.stats.duplicate++;
    else this.stats.normal++;
  }

  /** migration_completion: stop, maybe pause, last pages, devices, EOF, then the destination's SHUT. */
  private async complete(writer: SavevmWriter): Promise<void> {
    const downtimeStart = performance.now();
    const guest = this.guest;
    this.wasRunning = guest.runState === 'running';
    const globalRunstate = guest.runState; // global_state_store(), before the stop
    guest.setRunState('finish-migrate');
    if (guest.caps['pause-before-switchover']) {
      this.setStatus('pre-switchover');
      await this.aborter.guard(new Promise<void>((resolve) => (this.resume = resolve)));
      this.setStatus('device');
    }
    this.sync();
    await this.sendDirty(writer, new RateLimiter(0, performance.now()), true);
    for (const device of guest.devices.save(globalRunstate)) writer.device(device);
    writer.eof();
    await this.drained();
    this.streamWritten = true;
    if (this.returnPath) await this.aborter.guard(this.shut.promise);
    this.aborter.check();
    this.socket?.end();
    const end = performance.now();
    this.stats.downtime = end - downtimeStart;
    this.stats.totalTime = end - this.stats.startTime;
    this.setStatus('completed');
    guest.setRunState('postmigrate');
    guest.log.info('migration completed', {
      downtimeMs: Math.round(this.stats.downtime),
      totalMs: Math.round(this.stats.totalTime),
      passes: this.stats.dirtySyncCount,
    });
  }

  /** migration_bitmap_sync: the pages dirtied since the last sync join the migration bitmap. */
  private sync(): void {
    const newly = this.guest.dirtyLog.count;
    this.bitmap.orFrom(this.guest.dirtyLog);
    this.guest.dirtyLog.clearAll();
    this.stats.synced(performance.now(), newly);
    this.guest.emitMigrationEvent('MIGRATION_PASS', { pass: this.stats.dirtySyncCount });
  }

  private measure(now: number): void {
    this.stats.update(now, this.bitmap.count * PAGE_SIZE, this.guest.params['downtime-limit']);
  }

  private write(chunk: Buffer): void {
    const socket = this.socket;
    if (socket === null || socket.destroyed) return;
    this.stats.transferred += chunk.length;
    if (!socket.write(chunk)) this.full = true;
  }

  private async drained(): Promise<void> {
    if (!this.full || this.socket === null) return;
    await this.aborter.guard(once(this.socket, 'drain'));
    this.full = false;
  }

  private finishWithError(err: Error): void {
    this.socket?.destroy();
    const guest = this.guest;
    const cancelled = err instanceof MigrationCancelled;
    if (!cancelled) {
      this.errorDesc = err.message;
      guest.log.error('migration failed', { error: err.message });
      this.setStatus('failed');
    }
    // migration_iteration_finish: a guest stopped for the switchover runs again if it ran before.
    if (guest.runState === 'finish-migrate') guest.setRunState(this.wasRunning ? 'running' : 'postmigrate');
    if (cancelled) {
      guest.log.info('migration cancelled');
      this.setStatus('cancelled');
    }
  }

  private setStatus(to: MigrationStatus): void {
    if (!canMigrationTransition(this.status, to)) {
      throw new Error(`invalid migration status transition ${this.status} -> ${to}`);
    }
    this.status = to;
    this.guest.emitMigrationEvent('MIGRATION', { status: to });
  }
}

// The destination side: listens on the migrate-incoming socket, accepts one connection and loads
// the stream with the project's parser (pages into RAM, device sections into the devices),
// answers on the return path (PONG, SWITCHOVER_ACK, SHUT), and on the description after EOF runs
// or stays paused as QEMU's process_incoming_migration_bh decides. A broken or corrupt stream
// fails the migration and ends the process with exit code 1, as QEMU's destination does.
import { createServer } from 'node:net';
import type { Server, Socket } from 'node:net';
import { unlinkSync } from 'node:fs';
import { PAGE_SIZE } from '../savevm/constants.ts';
import type { PageRecord, SavevmEvent } from '../savevm/events.ts';
import { SavevmParser } from '../savevm/parser.ts';
import { PageBitmap } from './bitmap.ts';
import { generic } from './errors.ts';
import type { EmulatedGuest } from './guest.ts';
import { RAM_BLOCK_ID } from './memory.ts';
import { canMigrationTransition } from './migration-status.ts';
import type { MigrationStatus } from './migration-status.ts';
import {
  MIG_CMD_OPEN_RETURN_PATH,
  MIG_CMD_PING,
  MIG_RP_MSG_PONG,
  MIG_RP_MSG_SHUT,
  MIG_RP_MSG_SWITCHOVER_ACK,
  be32,
  rpMessage,
} from './return-path.ts';
import { canRunTransition, isRunState } from './run-state.ts';
import { StreamWindow } from './stream-window.ts';

/** Bytes of a FULL section header before the device state: type, id, idstr, instance, version. */
const fullHeaderBytes = (idstr: string): number => 1 + 4 + 1 + Buffer.byteLength(idstr, 'latin1') + 4 + 4;
const COMMAND_HEADER_BYTES = 5;

export class IncomingMigration {
  status: MigrationStatus = 'none';
  private server: Server | null = null;
  private conn: Socket | null = null;
  private readonly parser: SavevmParser;
  private readonly window = new StreamWindow();
  /** Pages received at least once: all of them is this guest's condition for SWITCHOVER_ACK. */
  private readonly loaded: PageBitmap;
  private lastEventEnd = 0;
  private returnPath = false;
  private ackSent = false;
  private sourceRunstate: string | null = null;
  private done = false;

  constructor(
    private readonly guest: EmulatedGuest,
    private readonly path: string,
  ) {
    this.loaded = new PageBitmap(guest.memory.pages);
    this.parser = new SavevmParser({ onPage: (p) => this.onPage(p) });
  }

  /** Listens on the socket (replacing a stale file, as QEMU does) and enters setup. */
  async listen(): Promise<void> {
    removeFile(this.path);
    const server = createServer({ allowHalfOpen: true }, (socket) => this.accept(socket));
    await new Promise<void>((resolve, reject) => {
      server.once('error', (err) => reject(generic(`Failed to bind socket to ${this.path}: ${err.message}`)));
      server.listen(this.path, () => resolve());
    });
    server.on('error', (err) => this.fail(new Error(`incoming socket: ${err.message}`)));
    this.server = server;
    this.setStatus('setup');
  }

  info(): object {
    return this.status === 'none' ? {} : { status: this.status };
  }

  /** Process exit: nothing of this migration may linger on disk. */
  close(): void {
    this.server?.close();
    this.conn?.destroy();
    removeFile(this.path);
  }

  private accept(socket: Socket): void {
    // QEMU takes one connection per incoming migration and stops listening.
    this.server?.close();
    this.server = null;
    removeFile(this.path);
    if (this.conn !== null || this.done) {
      socket.destroy();
      return;
    }
    this.conn = socket;
    this.setStatus('active');
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('end', () => this.onEnd());
    socket.on('error', (err) => this.fail(new Error(`Unable to read from socket: ${err.message}`)));
    socket.on('close', () => this.onEnd());
  }

  private onData(chunk: Buffer): void {
    if (this.done) return;
    try {
      this.window.push(chunk);
      for (const event of this.parser.push(chunk)) this.onEvent(event);
      // Inside a RAM section nothing parsed so far is needed again; otherwise keep from the last event.
      this.window.dropBefore(this.parser.current !== null ? this.parser.offset : this.lastEventEnd);
    } catch (err) {
      this.fail(err as Error);
    }
  }

  private onEnd(): void {
    if (this.done) return;
    try {
      for (const event of this.parser.end()) this.onEvent(event);
      if (!this.done) throw new Error('the stream ended before the migration completed');
    } catch (err) {
      this.fail(err as Error);
    }
  }

  private onEvent(e: SavevmEvent): void {
    if (this.done) return;
    this.lastEventEnd = e.type === 'eof' ? e.offset + 1 : e.offset + e.bytes;
    switch (e.type) {
      case 'section-start':
        if (e.blocks !== null) this.checkBlocks(e.blocks);
        return;
      case 'command':
        this.onCommand(e.command, e.offset, e.length);
        return;
      case 'section-full': {
        const from = e.offset + fullHeaderBytes(e.idstr);
        const state = this.guest.devices.load(e.idstr, this.window.slice(from, from + e.deviceBytes));
        if (state !== undefined) this.sourceRunstate = state;
        return;
      }
      case 'vmdescription':
        // QEMU completes once it has read the description after EOF; it does not wait for the close.
        this.complete();
        return;
      default:
        return;
    }
  }

  private checkBlocks(blocks: { id: string; length: number }[]): void {
    const mine = this.guest.memory.bytes;
    const ram = blocks.find((b) => b.id === RAM_BLOCK_ID);
    if (blocks.length !== 1 || ram === undefined) {
      throw new Error(`Unknown ramblock list ${blocks.map((b) => b.id).join(',')}, cannot accept migration`);
    }
    if (ram.length !== mine) {
      throw new Error(
        `Length mismatch: ${RAM_BLOCK_ID}: 0x${ram.length.toString(16)} in != 0x${mine.toString(16)}`,
      );
    }
  }

  private onCommand(command: number, offset: number, length: number): void {
    if (command === MIG_CMD_OPEN_RETURN_PATH) {
      this.returnPath = true;
      this.maybeAck();
    } else if (command === MIG_CMD_PING) {
      const from = offset + COMMAND_HEADER_BYTES;
      const value = this.window.slice(from, from + length).readUInt32BE(0);
      if (this.returnPath) this.reply(MIG_RP_MSG_PONG, be32(value));
    } else {
      throw new Error(`stream command ${command} (postcopy, colo...) is not supported by the emulated guest`);
    }
  }

  private onPage(p: PageRecord): void {
    if (p.block !== RAM_BLOCK_ID || p.address + PAGE_SIZE > this.guest.memory.bytes) {
      throw new Error(`page ${p.block}:${p.address} is outside this guest's RAM`);
    }
    const index = p.address / PAGE_SIZE;
    this.guest.memory.load(index, p.data, p.fill);
    this.loaded.set(index);
    if (!this.ackSent && this.loaded.count === this.loaded.pages) this.maybeAck();
  }

  /**
   * SWITCHOVER_ACK once every page has arrived at least once (this guest's "initial data loaded",
   * as vfio's precopy), with switchover-ack on here and the return path open.
   */
  private maybeAck(): void {
    if (this.ackSent || !this.returnPath || !this.guest.caps['switchover-ack']) return;
    if (this.loaded.count !== this.loaded.pages) return;
    this.ackSent = true;
    this.guest.log.info('switchover ack sent');
    this.reply(MIG_RP_MSG_SWITCHOVER_ACK);
  }

  private complete(): void {
    this.done = true;
    const guest = this.guest;
    const source = this.sourceRunstate;
    if (source === null || source === 'running') {
      guest.setRunState(guest.autostart ? 'running' : 'paused');
    } else {
      guest.setRunState(isRunState(source) && canRunTransition('inmigrate', source) ? source : 'paused');
    }
    this.setStatus('completed');
    if (this.returnPath) this.reply(MIG_RP_MSG_SHUT, be32(0));
    this.conn?.end();
    guest.log.info('incoming migration completed', { bytes: this.parser.offset });
  }

  private fail(err: Error): void {
    if (this.done) return;
    this.done = true;
    this.guest.log.error(`load of migration failed: ${err.message}`);
    if (this.status === 'setup' || this.status === 'active') this.setStatus('failed');
    if (this.returnPath) this.reply(MIG_RP_MSG_SHUT, be32(1));
    this.conn?.destroy();
    this.guest.exit(1, 'incoming migration failed');
  }

  private reply(type: number, data?: Buffer): void {
    const conn = this.conn;
    if (conn !== null && !conn.destroyed && conn.writable) conn.write(rpMessage(type, data));
  }

  private setStatus(to: MigrationStatus): void {
    if (!canMigrationTransition(this.status, to)) {
      throw new Error(`invalid migration status transition ${this.status} -> ${to}`);
    }
    this.status = to;
    this.guest.emitMigrationEvent('MIGRATION', { status: to });
  }
}

function removeFile(path: string): void {
  try {
    unlinkSync(path);
  } catch {
    // absent already
  }
}

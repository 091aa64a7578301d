// The two small wire formats around the savevm stream that the codec's writer does not write:
// QEMU_VM_COMMAND records in the stream (be16 command, be16 length, data; savevm.c
// qemu_savevm_command_send) and return-path messages from destination to source on the same
// socket (be16 type, be16 length, data; migration.c migrate_send_rp_message).
import { QEMU_VM_COMMAND } from '../savevm/constants.ts';

export const MIG_CMD_OPEN_RETURN_PATH = 1;
export const MIG_CMD_PING = 2;

/** enum mig_rp_message_type (QEMU 8.1, where switchover-ack arrived). */
export const MIG_RP_MSG_SHUT = 1;
export const MIG_RP_MSG_PONG = 2;
export const MIG_RP_MSG_SWITCHOVER_ACK = 7;

/** Lengths QEMU checks for each message type (rp_cmd_args; -1 = variable). */
const RP_LENGTHS: ReadonlyMap<number, { name: string; length: number }> = new Map([
  [1, { name: 'SHUT', length: 4 }],
  [2, { name: 'PONG', length: 4 }],
  [3, { name: 'REQ_PAGES_ID', length: -1 }],
  [4, { name: 'REQ_PAGES', length: 12 }],
  [5, { name: 'RECV_BITMAP', length: -1 }],
  [6, { name: 'RESUME_ACK', length: 4 }],
  [7, { name: 'SWITCHOVER_ACK', length: 0 }],
]);

export function streamCommand(command: number, data: Buffer = Buffer.alloc(0)): Buffer {
  const b = Buffer.alloc(5 + data.length);
  b[0] = QEMU_VM_COMMAND;
  b.writeUInt16BE(command, 1);
  b.writeUInt16BE(data.length, 3);
  data.copy(b, 5);
  return b;
}

/** What QEMU's migration thread sends after the header when the return path is on. */
export function openReturnPathCommands(): Buffer {
  return Buffer.concat([streamCommand(MIG_CMD_OPEN_RETURN_PATH), streamCommand(MIG_CMD_PING, be32(1))]);
}

export function rpMessage(type: number, data: Buffer = Buffer.alloc(0)): Buffer {
  const b = Buffer.alloc(4 + data.length);
  b.writeUInt16BE(type, 0);
  b.writeUInt16BE(data.length, 2);
  data.copy(b, 4);
  return b;
}

export function be32(v: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(v >>> 0);
  return b;
}

export interface RpMessage {
  type: number;
  name: string;
  data: Buffer;
}

/** Splits the return path's bytes into messages; throws on what QEMU's source would reject. */
export class ReturnPathReader {
  private pending: Buffer = Buffer.alloc(0);

  push(chunk: Buffer): RpMessage[] {
    this.pending = this.pending.length === 0 ? chunk : Buffer.concat([this.pending, chunk]);
    const out: RpMessage[] = [];
    while (this.pending.length >= 4) {
      const type = this.pending.readUInt16BE(0);
      const length = this.pending.readUInt16BE(2);
      const known = RP_LENGTHS.get(type);
      if (!known) throw new Error(`Received invalid message 0x${type.toString(16)} on the return path`);
      if (known.length >= 0 && known.length !== length) {
        throw new Error(`Received bad message length ${length} for ${known.name} (expected ${known.length})`);
      }
      if (this.pending.length < 4 + length) break;
      out.push({ type, name: known.name, data: Buffer.from(this.pending.subarray(4, 4 + length)) });
      this.pending = this.pending.subarray(4 + length);
    }
    return out;
  }
}

// The emulated guest's devices, each a few bytes that change while the vCPUs run and travel as a
// device FULL section: "timer" (guest clock), "cpu" (a retired-work counter and the workload's
// position, so the destination's workload continues the same sequence), "serial" (a console ring)
// and QEMU's "globalstate" (the run state at the stop, which decides whether the destination runs).
import type { DeviceState } from '../savevm/writer.ts';

const SERIAL_RING = 256;
const GLOBALSTATE_RUNSTATE_BYTES = 100; // QEMU's GlobalState.runstate[100]

export interface CpuState {
  /** Workload ticks executed. */
  ticks: number;
  /** Guest stores executed. */
  stores: number;
  /** The workload generator's state. */
  prng: number;
  /** The workload's store counter (the value it writes next). */
  generation: number;
}

export class Devices {
  cpu: CpuState;
  clockNs = 0;
  private serial = Buffer.alloc(SERIAL_RING);
  private serialHead = 0;

  constructor(seed: number) {
    this.cpu = { ticks: 0, stores: 0, prng: seed >>> 0, generation: 0 };
  }

  /** Guest time passes and the guest prints a line to its console now and then. */
  advance(elapsedMs: number): void {
    this.clockNs += Math.round(elapsedMs * 1e6);
    this.cpu.ticks++;
    if (this.cpu.ticks % 100 === 0) this.print(`tick ${this.cpu.ticks} stores ${this.cpu.stores}\n`);
  }

  print(text: string): void {
    for (const byte of Buffer.from(text, 'latin1')) {
      this.serial[this.serialHead] = byte;
      this.serialHead = (this.serialHead + 1) % SERIAL_RING;
    }
  }

  /** The guest-visible states, named, for the memory digest (globalstate is not guest state). */
  guestStates(): { name: string; data: Buffer }[] {
    return this.save().map((d) => ({ name: d.idstr, data: d.data }));
  }

  /** Device sections in the order the stream carries them. */
  save(runstate?: string): DeviceState[] {
    const timer = Buffer.alloc(8);
    timer.writeBigUInt64BE(BigInt(this.clockNs));
    const cpu = Buffer.alloc(24);
    cpu.writeBigUInt64BE(BigInt(this.cpu.ticks), 0);
    cpu.writeBigUInt64BE(BigInt(this.cpu.stores), 8);
    cpu.writeUInt32BE(this.cpu.prng >>> 0, 16);
    cpu.writeUInt32BE(this.cpu.generation >>> 0, 20);
    const serial = Buffer.alloc(4 + SERIAL_RING);
    serial.writeUInt32BE(this.serialHead, 0);
    this.serial.copy(serial, 4);
    const states: DeviceState[] = [
      { idstr: 'timer', instanceId: 0, versionId: 2, data: timer },
      { idstr: 'cpu', instanceId: 0, versionId: 12, data: cpu },
      { idstr: 'serial', instanceId: 0, versionId: 3, data: serial },
    ];
    if (runstate !== undefined)
      states.push({ idstr: 'globalstate', instanceId: 0, versionId: 1, data: globalState(runstate) });
    return states;
  }

  /** Loads one device section; returns the run state when it is globalstate. Throws on bad sizes. */
  load(idstr: string, data: Buffer): string | undefined {
    switch (idstr) {
      case 'timer':
        expectSize(idstr, data, 8);
        this.clockNs = Number(data.readBigUInt64BE(0));
        return undefined;
      case 'cpu':
        expectSize(idstr, data, 24);
        this.cpu = {
          ticks: Number(data.readBigUInt64BE(0)),
          stores: Number(data.readBigUInt64BE(8)),
          prng: data.readUInt32BE(16),
          generation: data.readUInt32BE(20),
        };
        return undefined;
      case 'serial':
        expectSize(idstr, data, 4 + SERIAL_RING);
        this.serialHead = data.readUInt32BE(0) % SERIAL_RING;
        this.serial = Buffer.from(data.subarray(4));
        return undefined;
      case 'globalstate': {
        expectSize(idstr, data, 4 + GLOBALSTATE_RUNSTATE_BYTES);
        const size = Math.min(data.readUInt32BE(0), GLOBALSTATE_RUNSTATE_BYTES);
        return data
          .subarray(4, 4 + size)
          .toString('latin1')
          .replace(/\0+$/, '');
      }
      default:
        throw new Error(`Unknown savevm section or instance '${idstr}' 0`);
    }
  }
}

function globalState(runstate: string): Buffer {
  const b = Buffer.alloc(4 + GLOBALSTATE_RUNSTATE_BYTES);
  const name = Buffer.from(runstate, 'latin1');
  b.writeUInt32BE(name.length + 1, 0); // QEMU counts the terminating NUL
  name.copy(b, 4);
  return b;
}

function expectSize(idstr: string, data: Buffer, size: number): void {
  if (data.length !== size)
    throw new Error(`device '${idstr}': ${data.length} bytes of state, expected ${size}`);
}

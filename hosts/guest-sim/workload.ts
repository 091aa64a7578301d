// The guest's workload: while the vCPUs run it stores non-zero 64-bit values into pages picked
// from the working set, at a set rate. Which page, where in it and what value all come from a
// seeded generator, so the same seed gives the same writes; every store marks the page dirty.
import { PAGE_SIZE } from '../savevm/constants.ts';
import type { PageBitmap } from './bitmap.ts';
import type { CpuState } from './devices.ts';
import type { GuestMemory } from './memory.ts';
import { Prng } from './prng.ts';

export interface WorkloadOptions {
  pagesPerSecond: number;
  /** Pages [0, workingSetPages) are written; defaults to all of RAM. */
  workingSetPages?: number | undefined;
}

export class Workload {
  private credit = 0;
  readonly workingSet: number;

  constructor(
    private readonly memory: GuestMemory,
    private readonly dirty: PageBitmap,
    private readonly options: WorkloadOptions,
  ) {
    this.workingSet = Math.min(options.workingSetPages ?? memory.pages, memory.pages);
  }

  /** Runs for `elapsedMs` of guest time; returns the stores made. Rate credit carries over. */
  run(cpu: CpuState, elapsedMs: number): number {
    this.credit += (this.options.pagesPerSecond * elapsedMs) / 1000;
    const n = Math.floor(this.credit);
    this.credit -= n;
    this.store(cpu, n);
    return n;
  }

  /** Makes exactly `n` stores, continuing the sequence kept in `cpu`. */
  store(cpu: CpuState, n: number): void {
    const prng = new Prng(cpu.prng);
    for (let k = 0; k < n; k++) {
      const page = prng.below(this.workingSet);
      const offset = prng.below(PAGE_SIZE / 8) * 8;
      cpu.generation = (cpu.generation + 1) >>> 0;
      // The low word is odd, so no store ever writes zeros.
      this.memory.store(page, offset, cpu.generation, (prng.next() | 1) >>> 0);
      this.dirty.set(page);
    }
    cpu.prng = prng.state;
    cpu.stores += n;
  }
}

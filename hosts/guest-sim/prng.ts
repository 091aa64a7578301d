// A tiny seeded generator (mulberry32) whose whole state is one 32-bit word, so the workload's
// position in its sequence travels with the vCPU state and the destination continues it exactly.
export class Prng {
  constructor(public state: number) {
    this.state = state >>> 0;
  }

  /** The next 32-bit unsigned value. */
  next(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return (t ^ (t >>> 14)) >>> 0;
  }

  /** A value in [0, n). */
  below(n: number): number {
    return this.next() % n;
  }
}

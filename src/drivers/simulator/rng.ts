/**
 * The simulator's only source of randomness, seeded so that a run can be replayed exactly: the same
 * seed and the same commands in the same order give the same latencies and the same faults.
 */

/**
 * mulberry32 (Tommy Ettinger's 32-bit generator): tiny, fast and good enough to pick faults and
 * latencies; not for anything secret.
 */
export class SeededRng {
  private state: number;

  constructor(readonly seed: number) {
    this.state = seed >>> 0;
  }

  /** A float in [0, 1). */
  next(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  /** An integer in [min, max], both included. */
  int(min: number, max: number): number {
    return min + Math.floor(this.next() * (max - min + 1));
  }

  /** True with probability `p`; always draws, so the sequence does not depend on `p`. */
  chance(p: number): boolean {
    return this.next() < p;
  }
}

/**
 * The trainer's random numbers: one seeded generator whose whole state is one 32-bit integer, so a
 * checkpoint stores it and a resumed run draws exactly the numbers the uninterrupted run would have.
 * Same algorithm as core's `seededRng` (mulberry32), with the state exposed.
 */
export class Rng {
  #a: number;
  constructor(seed: number) {
    this.#a = seed >>> 0;
  }
  /** the generator's state (an unsigned 32-bit integer): save it, and `new Rng(state)` continues the sequence */
  get state(): number {
    return this.#a;
  }
  /** uniform in [0, 1) */
  uniform(): number {
    this.#a = (this.#a + 0x6d2b79f5) >>> 0;
    let t = this.#a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  /** uniform in [lo, hi) */
  range(lo: number, hi: number): number {
    return lo + (hi - lo) * this.uniform();
  }
  /** an integer in [0, n) */
  int(n: number): number {
    return Math.min(n - 1, Math.floor(this.uniform() * n));
  }
  /** a 31-bit seed for a tfjs op that takes one (drop path) */
  seed(): number {
    return Math.floor(this.uniform() * 2 ** 31);
  }
}

/** A permutation of 0 … n−1 (Fisher–Yates) drawn from `rng`. */
export function permutation(n: number, rng: Rng): number[] {
  const p = Array.from({ length: n }, (_, i) => i);
  for (let i = n - 1; i > 0; i--) {
    const j = rng.int(i + 1);
    [p[i], p[j]] = [p[j]!, p[i]!];
  }
  return p;
}

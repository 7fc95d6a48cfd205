// The builder's only source of randomness: a small seeded generator (SFC32 seeded
// through SplitMix32), so a rebalance is a pure function of its input.

export class Prng {
  private a: number
  private b: number
  private c: number
  private d: number

  constructor (seed: number) {
    // Fold both halves of a safe-integer seed into the 32-bit mixer.
    let s = (seed >>> 0) ^ Math.imul(Math.floor(seed / 0x100000000) >>> 0, 0x9e3779b9)
    const next = (): number => {
      s = (s + 0x9e3779b9) | 0
      let z = s
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b)
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35)
      return (z ^ (z >>> 16)) >>> 0
    }
    this.a = next(); this.b = next(); this.c = next(); this.d = next()
    for (let i = 0; i < 12; i++) this.nextUint32()
  }

  nextUint32 (): number {
    const t = (((this.a + this.b) | 0) + this.d) | 0
    this.d = (this.d + 1) | 0
    this.a = this.b ^ (this.b >>> 9)
    this.b = (this.c + (this.c << 3)) | 0
    this.c = (this.c << 21) | (this.c >>> 11)
    this.c = (this.c + t) | 0
    return t >>> 0
  }

  /** Uniform integer in [0, n) for n ≤ 2^32 (the tiny modulo bias is irrelevant here). */
  below (n: number): number {
    return n <= 1 ? 0 : this.nextUint32() % n
  }

  /** A seeded random permutation of 0..n-1. */
  permutation (n: number): Uint32Array {
    const out = new Uint32Array(n)
    for (let i = 0; i < n; i++) out[i] = i
    for (let i = n - 1; i > 0; i--) {
      const j = this.below(i + 1)
      const t = out[i]; out[i] = out[j]; out[j] = t
    }
    return out
  }
}

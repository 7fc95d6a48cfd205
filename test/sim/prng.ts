// Seeded PRNG for the simulator (sfc32 seeded through splitmix32): fast, small
// state, and the same sequence on every run for the same seed.

export type Random = () => number

export function createPrng (seed: number): Random {
  let s = seed >>> 0
  const splitmix = (): number => {
    s = (s + 0x9e3779b9) >>> 0
    let z = s
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0
    return (z ^ (z >>> 16)) >>> 0
  }
  let a = splitmix(); let b = splitmix(); let c = splitmix(); let d = splitmix()
  return () => {
    const t = (((a + b) >>> 0) + d) >>> 0
    d = (d + 1) >>> 0
    a = b ^ (b >>> 9)
    b = (c + (c << 3)) >>> 0
    c = ((c << 21) | (c >>> 11)) >>> 0
    c = (c + t) >>> 0
    return t / 0x100000000
  }
}

/** A child generator derived from a parent, so each node gets its own stream. */
export function forkPrng (parent: Random): Random {
  return createPrng(Math.floor(parent() * 0x100000000))
}

// Incarnations a node may announce before the disk has them.
//
// A restart must never go back below an incarnation the node announced, so the
// shell writes a bound to disk before anything carrying a new incarnation leaves.
// Writing each incarnation as it rises put a whole atomic write (temp file, fsync,
// rename, directory fsync: seven trips through the thread pool) between a
// refutation and its publish. On a starved event loop each trip waits for the next
// loop iteration: a seed admitting a 50-agent herd on two cores decided to refute
// 0.2 s after it was suspected and published 1.8 s later, past the minimum
// suspicion timeout, and was declared failed.
//
// So the shell writes a ceiling `block` above the incarnation it needs, and renews
// it once the incarnation comes within half a block of the ceiling asked for, while
// the rest of the block still covers what is announced meanwhile. Announcing stays
// safe: nothing above the durable ceiling leaves, and a restart starts one above the
// ceiling it reads. The price is that a restart skips up to `block` incarnations.
import { splitForDurability, type Ready } from './broadcast.js'

export const DEFAULT_INCARNATION_BLOCK = 16

export class IncarnationReserve {
  /** The highest ceiling known to be on disk (−1: none yet). */
  private durable = -1
  /** The highest ceiling a write was asked for. */
  private asked = -1

  constructor (readonly block: number = DEFAULT_INCARNATION_BLOCK) {
    if (!Number.isSafeInteger(block) || block < 2) throw new RangeError(`incarnation block must be an integer ≥ 2, got ${block}`)
  }

  /**
   * The core needs `incarnation` durable. Returns the ceiling to write now, or
   * undefined when a write already asked for covers it with half a block to spare.
   */
  need (incarnation: number): number | undefined {
    if (!Number.isSafeInteger(incarnation) || incarnation < 0) throw new RangeError(`incarnation must be a non-negative integer, got ${incarnation}`)
    if (incarnation + this.block / 2 <= this.asked) return undefined
    this.asked = incarnation + this.block
    return this.asked
  }

  /** A write of `ceiling` reached the disk. */
  written (ceiling: number): void { this.durable = Math.max(this.durable, ceiling) }

  /** A write of `ceiling` failed: the next need asks again rather than count on it. */
  failed (ceiling: number): void { if (this.asked === ceiling) this.asked = this.durable }

  /** Whether messages carrying `incarnation` may leave now. */
  covers (incarnation: number): boolean { return incarnation <= this.durable }

  /** The durable ceiling (−1 before the first write). */
  ceiling (): number { return this.durable }
}

/**
 * One drain of the core under the reserve: the ceiling to write (if the core asked to
 * persist and no write asked for covers it), what may leave now, and what waits for
 * the disk. `incarnation` is the core's current one.
 */
export function planDurability (reserve: IncarnationReserve, self: string, r: Pick<Ready, 'persist' | 'send' | 'publish'>, incarnation: number): {
  write: number | undefined
} & ReturnType<typeof splitForDurability> {
  const write = r.persist !== undefined ? reserve.need(r.persist.incarnation) : undefined
  return { write, ...splitForDurability(self, r, reserve.covers(incarnation)) }
}

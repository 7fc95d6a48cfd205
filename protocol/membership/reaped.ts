// Members reaped lately, remembered for one more reap period so that a peer that
// has not reaped them yet cannot bring them back.
//
// Nodes reap a dead or left member at slightly different times (each counts from
// when it heard of the verdict). Without this memory, a push-pull from a node still
// holding the entry re-adds it as new, its reap timer starts over, and the two
// nodes keep handing it back and forth: a zombie that never goes away. A claim about
// a remembered member counts only if it supersedes the reaped entry (a higher
// incarnation: the member came back).

import { MAX_MEMBERS } from './limits.js'
import { supersedes, type Claim } from './state.js'

export class ReapedMembers {
  private readonly gone = new Map<string, { claim: Claim, until: number }>()

  /** Member `id`, reaped at `now` as `claim`; remembered until `now + forMs`. */
  add (id: string, claim: Claim, now: number, forMs: number): void {
    this.gone.delete(id)
    // Oldest first in a Map's order: a flood of reaps forgets the oldest.
    if (this.gone.size >= MAX_MEMBERS) this.gone.delete(this.gone.keys().next().value as string)
    this.gone.set(id, { claim: { incarnation: claim.incarnation, status: claim.status }, until: now + forMs })
  }

  /** Whether `claim` about `id` only repeats what was reaped (and is to be ignored). */
  stale (id: string, claim: Claim, now: number): boolean {
    const g = this.gone.get(id)
    if (g === undefined) return false
    if (now >= g.until || supersedes(claim, g.claim)) {
      this.gone.delete(id)
      return false
    }
    return true
  }

  get size (): number { return this.gone.size }
}

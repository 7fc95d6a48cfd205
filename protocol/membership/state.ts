// The member table and the merge order of claims about a member.
//
// Claims are totally ordered by (incarnation, status rank) with
// alive < suspect < dead < left: a higher incarnation always wins, and at equal
// incarnation a later status wins, so `left` is terminal for its incarnation.
// Only an `alive` claim carries addrs/meta; other claims keep what we had.

import { STATUS_RANK, type MemberEntry, type MemberStatus } from './types.js'

export interface Claim {
  readonly incarnation: number
  readonly status: MemberStatus
}

/** True when `incoming` overrides `current` under the merge order. */
export function supersedes (incoming: Claim, current: Claim): boolean {
  if (incoming.incarnation !== current.incarnation) return incoming.incarnation > current.incarnation
  return STATUS_RANK[incoming.status] > STATUS_RANK[current.status]
}

function isLive (status: MemberEntry['status']): boolean { return status === 'alive' || status === 'suspect' }

export interface StatusCounts { alive: number, suspect: number, dead: number, left: number }

/**
 * Entries by id, status counts kept up to date, an id array for O(1) random
 * sampling, and the time each dead/left member went down (for reaping).
 */
export class MemberTable {
  private readonly entries = new Map<string, MemberEntry>()
  private readonly order: string[] = []
  private readonly position = new Map<string, number>()
  private readonly downSince = new Map<string, number>()
  private readonly tally: StatusCounts = { alive: 0, suspect: 0, dead: 0, left: 0 }
  private liveChanges = 0

  get size (): number { return this.entries.size }

  /** Bumped whenever the set of live (alive or suspect) members changes, so derived views can be cached per version. */
  get liveVersion (): number { return this.liveChanges }

  get (id: string): MemberEntry | undefined {
    return this.entries.get(id)
  }

  /** Stores `entry`, returning the one it replaced. Tracks when the member went down. */
  set (entry: MemberEntry, now: number): MemberEntry | undefined {
    const before = this.entries.get(entry.id)
    if (before === undefined) {
      this.position.set(entry.id, this.order.length)
      this.order.push(entry.id)
    } else {
      this.tally[before.status]--
    }
    this.tally[entry.status]++
    if ((before !== undefined && isLive(before.status)) !== isLive(entry.status)) this.liveChanges++
    this.entries.set(entry.id, entry)
    const down = entry.status === 'dead' || entry.status === 'left'
    if (!down) this.downSince.delete(entry.id)
    else if (before === undefined || before.status !== entry.status) this.downSince.set(entry.id, now)
    return before
  }

  delete (id: string): MemberEntry | undefined {
    const before = this.entries.get(id)
    if (before === undefined) return undefined
    this.entries.delete(id)
    this.downSince.delete(id)
    this.tally[before.status]--
    if (isLive(before.status)) this.liveChanges++
    const at = this.position.get(id) as number
    const last = this.order.pop() as string
    if (last !== id) {
      this.order[at] = last
      this.position.set(last, at)
    }
    this.position.delete(id)
    return before
  }

  /** When a dead/left member went down, or undefined if it is not down. */
  wentDownAt (id: string): number | undefined {
    return this.downSince.get(id)
  }

  downMembers (): IterableIterator<[string, number]> {
    return this.downSince.entries()
  }

  values (): IterableIterator<MemberEntry> {
    return this.entries.values()
  }

  counts (): StatusCounts {
    return { ...this.tally }
  }

  /** Members that are alive or suspect (those still probed). */
  live (): number {
    return this.tally.alive + this.tally.suspect
  }

  /**
   * Up to `count` distinct members passing `accept`, sampled uniformly by
   * rejection (bounded tries), then by a scan if rejection found too few.
   */
  sample (count: number, accept: (e: MemberEntry) => boolean, random: () => number): MemberEntry[] {
    const picked = new Map<string, MemberEntry>()
    if (count <= 0 || this.order.length === 0) return []
    for (let tries = count * 8; tries > 0 && picked.size < count; tries--) {
      const id = this.order[Math.floor(random() * this.order.length)]
      const e = this.entries.get(id) as MemberEntry
      if (!picked.has(id) && accept(e)) picked.set(id, e)
    }
    if (picked.size < count) {
      const rest = this.order.filter(id => !picked.has(id) && accept(this.entries.get(id) as MemberEntry))
      while (picked.size < count && rest.length > 0) {
        const i = Math.floor(random() * rest.length)
        const id = rest[i]
        rest[i] = rest[rest.length - 1]
        rest.pop()
        picked.set(id, this.entries.get(id) as MemberEntry)
      }
    }
    return [...picked.values()]
  }
}

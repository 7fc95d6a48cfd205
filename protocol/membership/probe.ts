// Probe scheduling (SWIM): one probe per period, round-robin over a shuffled list
// of members, re-shuffled every round; members added mid-round go to a random
// position so a new member is probed within about one round. Ids that stop being
// probe-able (dead, left, reaped) are skipped lazily. Suspicion-directed probes
// (see config.suspicionProbeFanout) jump the queue.

export class ProbeOrder {
  private list: string[] = []
  private index = 0
  private readonly urgent: string[] = []

  constructor (private readonly random: () => number) {}

  /** Next member to probe, or undefined when nobody is probe-able. */
  next (probeable: (id: string) => boolean, candidates: () => string[]): string | undefined {
    while (this.urgent.length > 0) {
      const id = this.urgent.shift() as string
      if (probeable(id)) return id
    }
    for (let pass = 0; pass < 2; pass++) {
      while (this.index < this.list.length) {
        const id = this.list[this.index++]
        if (probeable(id)) return id
      }
      this.list = shuffle(candidates(), this.random)
      this.index = 0
    }
    return undefined
  }

  /** A member became probe-able: place it at a random position of the current round. */
  insert (id: string): void {
    const at = this.index + Math.floor(this.random() * (this.list.length - this.index + 1))
    this.list.splice(at, 0, id)
  }

  /** Probe this member before the round-robin continues (once). */
  prioritize (id: string): void {
    if (!this.urgent.includes(id)) this.urgent.push(id)
  }
}

/** Fisher–Yates with the injected random source. */
export function shuffle<T> (items: T[], random: () => number): T[] {
  for (let i = items.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1))
    const t = items[i]
    items[i] = items[j]
    items[j] = t
  }
  return items
}

/** Our own probe of `target`, from the direct ping to the end of the indirect window. */
export interface ProbeInFlight {
  readonly target: string
  readonly incarnation: number
  readonly seq: number
  readonly sentAt: number
  readonly directDeadline: number
  indirectDeadline: number
  phase: 'direct' | 'indirect'
  helpers: string[]
  readonly nacks: Set<string>
}

/** A ping we send on behalf of `origin` (ping-req); answered with ack, or nack at `nackAt`. */
export interface Relay {
  readonly origin: string
  readonly originSeq: number
  readonly target: string
  readonly nackAt: number
}

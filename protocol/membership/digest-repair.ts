// Digest repair: an ack carries the responder's live digest (checksum.ts), and a
// prober whose digest and the responder's have both stood still, yet differ,
// push-pulls with it at once instead of waiting for the periodic anti-entropy (15–30 s).
//
// Gossip misses are rare but real: an update published while a member's
// subscription was not yet known to the publisher, or relayed by a hub whose mesh
// holds only a few of its connections, reaches most members and never the rest.
// Probes already flow between every member and its observers, so comparing
// digests there finds such a straggler within a few probe rounds of the cluster
// going quiet. Both digests must be unchanged for `settleMs` first: while news is
// still spreading, digests differ for a moment everywhere, and the periodic
// push-pull is the right tool then. At most one repair per `minIntervalMs`.
// Pure: time comes in as `now`.

/** How many peers' last differing digests are remembered (probe targets and a few verification pings). */
const MAX_TRACKED_PEERS = 64

export interface DigestRepairOptions {
  /** Both digests unchanged for this long before a difference counts (ms; 0 disables the repair). */
  readonly settleMs: number
  /** At most one repair per this long (ms). */
  readonly minIntervalMs: number
}

export class DigestRepair {
  /** When our own digest last changed. */
  private changedAt = -Infinity
  private lastRepairAt = -Infinity
  private count = 0
  /** Per peer: the digest it last reported that differed from ours, and since when it reports it. */
  private readonly differing = new Map<string, { sum: string, since: number }>()

  constructor (private readonly opts: DigestRepairOptions) {}

  /** Repairs called for so far. */
  get repairs (): number { return this.count }

  /** Our digest changed at `now` (a member joined, died, left or took a new incarnation). */
  changed (now: number): void { this.changedAt = now }

  /** A peer left the view: forget what it reported. */
  forget (peer: string): void { this.differing.delete(peer) }

  /**
   * An ack from `peer` reported `theirs` while our digest is `ours`: whether to
   * push-pull with `peer` now. A true answer counts as the repair for the rate limit.
   */
  observe (peer: string, ours: string, theirs: string | undefined, now: number): boolean {
    const { settleMs, minIntervalMs } = this.opts
    if (settleMs <= 0 || theirs === undefined) return false
    if (theirs === ours) {
      this.differing.delete(peer)
      return false
    }
    const seen = this.differing.get(peer)
    if (seen === undefined || seen.sum !== theirs) {
      if (seen === undefined && this.differing.size >= MAX_TRACKED_PEERS) this.differing.clear()
      this.differing.set(peer, { sum: theirs, since: now })
      return false
    }
    if (now - seen.since < settleMs || now - this.changedAt < settleMs || now - this.lastRepairAt < minIntervalMs) return false
    this.lastRepairAt = now
    this.count++
    // The next difference from this peer has to stand still for settleMs again.
    this.differing.delete(peer)
    return true
  }
}

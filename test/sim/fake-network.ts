// The simulated network: per-message delay and loss, partitions, and the rule of
// who can reach whom. Direct messages (probe/sync streams) and gossip (the
// gossipsub flood) have separate delay and loss knobs.

import type { Random } from './prng.js'

export interface NetworkOptions {
  /** Base one-way delay of a direct message, ms. Default 2. */
  readonly latency?: number
  /** Extra uniform delay in [0, jitter), ms. Default 3. */
  readonly jitter?: number
  /** Probability a direct message is lost. Default 0. */
  readonly loss?: number
  /** Delay of a gossip publish reaching each node (mesh hops), ms. Default 20. */
  readonly gossipLatency?: number
  /** Extra uniform gossip delay, ms. Default 30. */
  readonly gossipJitter?: number
  /** Probability one node misses one gossip message. Default 0. */
  readonly gossipLoss?: number
  /** A joining node enters the gossip mesh after uniform [0, meshDelay) ms (gossipsub heartbeat grafting). Default 0. */
  readonly meshDelay?: number
}

export class FakeNetwork {
  readonly latency: number
  readonly jitter: number
  loss: number
  readonly gossipLatency: number
  readonly gossipJitter: number
  gossipLoss: number
  readonly meshDelay: number
  private side = new Map<string, number>()
  private readonly blocked = new Set<string>()
  private readonly noDatagrams = new Set<string>()

  constructor (opts: NetworkOptions, private readonly random: Random) {
    this.latency = opts.latency ?? 2
    this.jitter = opts.jitter ?? 3
    this.loss = opts.loss ?? 0
    this.gossipLatency = opts.gossipLatency ?? 20
    this.gossipJitter = opts.gossipJitter ?? 30
    this.gossipLoss = opts.gossipLoss ?? 0
    this.meshDelay = opts.meshDelay ?? 0
  }

  /** Splits the nodes into groups that cannot reach each other; unlisted nodes form their own group. */
  partition (groups: readonly (readonly string[])[]): void {
    this.side = new Map()
    groups.forEach((g, i) => { for (const id of g) this.side.set(id, i + 1) })
  }

  heal (): void {
    this.side = new Map()
  }

  /** Cuts direct messages between a and b (both ways); gossip still flows through the mesh. */
  blockLink (a: string, b: string): void {
    this.blocked.add(linkKey(a, b))
  }

  unblockLink (a: string, b: string): void {
    this.blocked.delete(linkKey(a, b))
  }

  /** Drops every probe datagram (a probe not sent as reliable) addressed to `id`: a firewall that blocks its UDP port. */
  blockDatagramsTo (id: string): void {
    this.noDatagrams.add(id)
  }

  unblockDatagramsTo (id: string): void {
    this.noDatagrams.delete(id)
  }

  datagramsBlocked (to: string): boolean {
    return this.noDatagrams.has(to)
  }

  connected (a: string, b: string): boolean {
    return (this.side.get(a) ?? 0) === (this.side.get(b) ?? 0)
  }

  /** Delay for a direct message, or undefined when it is lost. */
  directDelay (from: string, to: string): number | undefined {
    if (!this.connected(from, to) || this.blocked.has(linkKey(from, to))) return undefined
    if (this.loss > 0 && this.random() < this.loss) return undefined
    return this.latency + this.random() * this.jitter
  }

  gossipDelay (): number {
    return this.gossipLatency + this.random() * this.gossipJitter
  }

  gossipLost (): boolean {
    return this.gossipLoss > 0 && this.random() < this.gossipLoss
  }
}

function linkKey (a: string, b: string): string {
  return a < b ? `${a}\n${b}` : `${b}\n${a}`
}

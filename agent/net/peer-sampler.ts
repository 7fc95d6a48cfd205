// Keeps a bounded random sample of members connected so the gossipsub mesh forms
// and stays mixed: identify alone does not spread addresses, so a node joined
// through one seed would otherwise only ever know the seed.
//
// planSampling() is the pure decision (which to dial, which to close) given the
// current connections, the members and a random source; PeerSampler is the thin
// I/O around it that the daemon ticks.
import { peerIdFromString } from '@libp2p/peer-id'
import { multiaddr, type Multiaddr } from '@multiformats/multiaddr'
import type { AbortOptions, Connection, PeerId } from '@libp2p/interface'

export interface SampleMember { id: string, addrs: string[] }

export interface SamplingInput {
  self: string
  /** Peer ids with an open connection (any direction, duplicates allowed). */
  connected: readonly string[]
  /** Peer ids being dialled now. */
  dialing: readonly string[]
  /** Connections this sampler opened; only these are ever closed. */
  ours: readonly string[]
  candidates: readonly SampleMember[]
  /** Ids not to dial right now (recent failures). */
  avoid?: ReadonlySet<string>
  min: number
  max: number
  maxConcurrentDials: number
  /** Whether this tick may swap one of our connections for a fresh member. */
  rotate: boolean
  random: () => number
}

export interface SamplingPlan { dial: SampleMember[], close: string[] }

function shuffled<T> (items: readonly T[], random: () => number): T[] {
  const out = items.slice()
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1)) % (i + 1)
    const tmp = out[i]; out[i] = out[j]; out[j] = tmp
  }
  return out
}

export function planSampling (input: SamplingInput): SamplingPlan {
  const connected = new Set(input.connected.filter(id => id !== input.self))
  const dialing = new Set(input.dialing.filter(id => !connected.has(id)))
  const eligible = shuffled(input.candidates.filter(c =>
    c.id !== input.self && c.addrs.length > 0 && !connected.has(c.id) && !dialing.has(c.id) && input.avoid?.has(c.id) !== true
  ), input.random)
  // Candidates may repeat an id; dial each once.
  const unique: SampleMember[] = []
  const seen = new Set<string>()
  for (const c of eligible) if (!seen.has(c.id)) { seen.add(c.id); unique.push(c) }

  const closable = shuffled(input.ours.filter(id => connected.has(id)), input.random)
  const dialSlots = Math.max(0, input.maxConcurrentDials - dialing.size)
  const total = connected.size + dialing.size
  const plan: SamplingPlan = { dial: [], close: [] }

  if (total < input.min) {
    plan.dial = unique.slice(0, Math.min(input.min - total, dialSlots))
    return plan
  }
  if (connected.size > input.max) {
    plan.close = closable.slice(0, connected.size - input.max)
    return plan
  }
  if (input.rotate && unique.length > 0 && closable.length > 0 && dialSlots > 0) {
    // Dial first, close second: the count never dips below min.
    plan.dial = [unique[0]]
    plan.close = [closable[0]]
  }
  return plan
}

/** The libp2p surface the sampler needs; a RingleaderNode fits. */
export interface SamplerNode {
  peerId: PeerId
  getConnections: () => Connection[]
  dial: (peer: PeerId, options?: AbortOptions) => Promise<Connection>
  hangUp: (peer: PeerId, options?: AbortOptions) => Promise<void>
  peerStore: { merge: (peer: PeerId, data: { multiaddrs: Multiaddr[] }) => Promise<unknown> }
}

export interface PeerSamplerOptions {
  members: () => SampleMember[]
  /** Connections to keep at least (default 6). */
  min?: number
  /** Connections above which our own are closed (default 10). */
  max?: number
  /** Dials in flight at once (default 3). */
  maxConcurrentDials?: number
  /** Rotate one connection every this many ticks; 0 disables (default 10). */
  rotateEveryTicks?: number
  /** Ticks a failed member is not retried (default 5). */
  failureBackoffTicks?: number
  dialTimeoutMs?: number
  random?: () => number
  /** A dial failure; membership may take it as a hint. */
  onDialFailed?: (id: string, err: unknown) => void
}

export interface PeerSamplerStats { dials: number, dialFailures: number, closes: number, rotations: number }

export class PeerSampler {
  readonly stats: PeerSamplerStats = { dials: 0, dialFailures: 0, closes: 0, rotations: 0 }
  private readonly dialing = new Set<string>()
  private readonly ours = new Set<string>()
  private readonly failedAt = new Map<string, number>()
  private ticks = 0
  private stopped = false

  constructor (private readonly node: SamplerNode, private readonly opts: PeerSamplerOptions) {
    const min = opts.min ?? 6
    const max = opts.max ?? 10
    if (!(Number.isInteger(min) && Number.isInteger(max) && min >= 0 && max >= min)) throw new RangeError(`peer sampler needs 0 <= min <= max, got ${min}..${max}`)
  }

  /** Decides and starts the dials and closes of one round; returns the plan. */
  tick (): SamplingPlan {
    if (this.stopped) return { dial: [], close: [] }
    this.ticks++
    const backoff = this.opts.failureBackoffTicks ?? 5
    for (const [id, at] of this.failedAt) if (this.ticks - at >= backoff) this.failedAt.delete(id)
    const connected = this.node.getConnections().filter(c => c.status === 'open').map(c => c.remotePeer.toString())
    const connectedSet = new Set(connected)
    for (const id of this.ours) if (!connectedSet.has(id) && !this.dialing.has(id)) this.ours.delete(id)
    const every = this.opts.rotateEveryTicks ?? 10
    let members: SampleMember[]
    try { members = this.opts.members() } catch { members = [] }
    const plan = planSampling({
      self: this.node.peerId.toString(),
      connected,
      dialing: [...this.dialing],
      ours: [...this.ours],
      candidates: members,
      avoid: new Set(this.failedAt.keys()),
      min: this.opts.min ?? 6,
      max: this.opts.max ?? 10,
      maxConcurrentDials: this.opts.maxConcurrentDials ?? 3,
      rotate: every > 0 && this.ticks % every === 0,
      random: this.opts.random ?? Math.random
    })
    if (plan.dial.length > 0 && plan.close.length > 0) this.stats.rotations++
    for (const m of plan.dial) void this.dialMember(m)
    for (const id of plan.close) void this.close(id)
    return plan
  }

  stop (): void { this.stopped = true }

  private async dialMember (m: SampleMember): Promise<void> {
    this.dialing.add(m.id)
    this.stats.dials++
    try {
      const peer = peerIdFromString(m.id)
      const addrs: Multiaddr[] = []
      for (const a of m.addrs) { try { addrs.push(multiaddr(a)) } catch { /* skip an unparsable address */ } }
      if (addrs.length === 0) throw new Error(`member ${m.id} has no valid address`)
      await this.node.peerStore.merge(peer, { multiaddrs: addrs })
      await this.node.dial(peer, { signal: AbortSignal.timeout(this.opts.dialTimeoutMs ?? 5000) })
      this.ours.add(m.id)
    } catch (err) {
      this.stats.dialFailures++
      this.failedAt.set(m.id, this.ticks)
      try { this.opts.onDialFailed?.(m.id, err) } catch { /* the hint sink must not break sampling */ }
    } finally {
      this.dialing.delete(m.id)
    }
  }

  private async close (id: string): Promise<void> {
    this.ours.delete(id)
    this.stats.closes++
    try { await this.node.hangUp(peerIdFromString(id)) } catch { /* already gone */ }
  }
}

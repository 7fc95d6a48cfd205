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
  /** Peers this node dialled (whoever in the agent did); only these are ever closed: the dialler owns a connection. */
  ours: readonly string[]
  candidates: readonly SampleMember[]
  /** Ids not to dial right now (recent failures). */
  avoid?: ReadonlySet<string>
  min: number
  max: number
  maxConcurrentDials: number
  /** Members to be connected to whatever min says, dialled first (the ones this node probes). */
  preferred?: readonly string[]
  /** Connections never closed (ring neighbours: whom this node probes and who probes it). */
  keep?: readonly string[]
  /** Whether this tick may swap one of our connections for a fresh member. */
  rotate: boolean
  random: () => number
}

export interface SamplingPlan { dial: SampleMember[], close: string[], rotated?: true }

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
  const keep = new Set(input.keep ?? [])
  const dialable = (c: SampleMember): boolean =>
    c.id !== input.self && c.addrs.length > 0 && !connected.has(c.id) && !dialing.has(c.id) && input.avoid?.has(c.id) !== true
  // Candidates may repeat an id; dial each once.
  const byId = new Map<string, SampleMember>()
  for (const c of input.candidates) if (dialable(c) && !byId.has(c.id)) byId.set(c.id, c)
  const preferred: SampleMember[] = []
  for (const id of input.preferred ?? []) {
    const c = byId.get(id)
    if (c !== undefined) { preferred.push(c); byId.delete(id) }
  }
  const unique = shuffled([...byId.values()], input.random)

  const closable = shuffled(input.ours.filter(id => connected.has(id) && !keep.has(id)), input.random)
  let dialSlots = Math.max(0, input.maxConcurrentDials - dialing.size)
  const plan: SamplingPlan = { dial: [], close: [] }

  // The members this node probes come first, whatever min says: a probe must not
  // pay for a dial (under load a cold dial outlasts the probe timeout).
  plan.dial = preferred.slice(0, dialSlots)
  dialSlots -= plan.dial.length
  const total = connected.size + dialing.size + plan.dial.length
  if (total < input.min) {
    plan.dial.push(...unique.slice(0, Math.min(input.min - total, dialSlots)))
    return plan
  }
  if (connected.size > input.max) {
    plan.close = closable.slice(0, connected.size - input.max)
    return plan
  }
  if (input.rotate && unique.length > 0 && closable.length > 0 && dialSlots > 0) {
    // Dial first, close second: the count never dips below min.
    plan.dial.push(unique[0])
    plan.close = [closable[0]]
    plan.rotated = true
  }
  return plan
}

/**
 * Who dials whom on the probe ring. Where two members probe each other (every
 * pair, while n ≤ k) both would dial at once, and the pair would pay for two
 * handshakes and keep two connections: only the lower id dials; the higher one
 * awaits it.
 */
export function dialDirections (self: string, observes: readonly string[], observedBy: readonly string[]): { dial: string[], awaited: string[] } {
  const by = new Set(observedBy)
  const awaited = observes.filter(id => by.has(id) && id < self)
  const wait = new Set(awaited)
  return { dial: observes.filter(id => !wait.has(id)), awaited }
}

/**
 * Members learned moments ago, left undialled for `holdMs`. While several nodes
 * join at once every joiner learns every member and every member learns every
 * joiner; dialling them all at once (~40 ms of CPU at each end per connection)
 * competes for the CPU with the joins still in flight. The membership core does
 * not probe a member just heard alive for probeGraceAfterAlive, so a hold-off well
 * inside that costs no probe a dial.
 */
export class RecentMembers {
  private readonly at = new Map<string, number>()

  constructor (readonly holdMs: number) {
    if (!(Number.isFinite(holdMs) && holdMs >= 0)) throw new RangeError(`hold-off must be a non-negative number of ms, got ${holdMs}`)
  }

  add (id: string, now: number): void {
    if (this.holdMs > 0) this.at.set(id, now)
  }

  /** Whether `id` is still held off at `now`; forgets it once the hold-off is over. */
  held (id: string, now: number): boolean {
    const at = this.at.get(id)
    if (at === undefined) return false
    if (now - at < this.holdMs) return true
    this.at.delete(id)
    return false
  }

  delete (id: string): void { this.at.delete(id) }

  get size (): number { return this.at.size }
}

/**
 * A wave of joins, as a node sees it: it begins with a join after `quietMs` without
 * one and lasts while joins keep coming, for at most `maxMs`. While it lasts the
 * sampler dials up to `hold` connections only (PeerSamplerOptions.dialCap), then
 * one more every `rampMs`. In a 50-agent herd every joiner otherwise dialled its
 * five or more random members at once, and those connections, with the mesh
 * traffic they carry, took half of the box's CPU from the seed that was still
 * admitting the rest (docs/benchmarks.md § N = 50). The joiners need little mesh
 * to converge: the seed's push-pull gives each the members so far, its publishes
 * reach every connected joiner directly, and a push-pull when the wave ends
 * (MembershipService.syncAfterWave) catches what the sparse mesh was slow to carry.
 * The ramp keeps all of them from dialling at once when the wave ends, which on two
 * cores got live members suspected.
 */
export class JoinWave {
  private startedAt: number | undefined
  private lastAt = -Infinity

  /**
   * `firstStepMs` (default 0): how long after the wave's end the first extra connection
   * comes. Every node sees the last join within milliseconds, so with 0 the whole
   * herd dialled, and ran its wave-end push-pull, in the same instant, and a member
   * swamped by that burst was declared failed; a per-node phase spreads it.
   */
  constructor (readonly opts: { quietMs: number, maxMs: number, hold: number, rampMs: number, firstStepMs?: number }) {
    const { quietMs, maxMs, hold, rampMs, firstStepMs = 0 } = opts
    if (![quietMs, maxMs, hold, firstStepMs].every(x => Number.isFinite(x) && x >= 0) || !(Number.isFinite(rampMs) && rampMs > 0)) {
      throw new RangeError(`join wave needs non-negative quiet, max, hold and first step and a positive ramp, got ${quietMs}, ${maxMs}, ${hold}, ${firstStepMs}, ${rampMs}`)
    }
  }

  /** A member joined (or this node did) at `now`. */
  note (now: number): void {
    if (this.startedAt === undefined || now - this.lastAt >= this.opts.quietMs) this.startedAt = now
    this.lastAt = now
  }

  /** When the wave that began at `startedAt` ends: quietMs after its last join, at most maxMs after its first. */
  private end (startedAt: number): number {
    return Math.min(this.lastAt + this.opts.quietMs, startedAt + this.opts.maxMs)
  }

  /**
   * Whether the wave, or the start of the ramp after it, lasts at `now`: the dial
   * cap is still below `connections`. False before any join.
   */
  settling (now: number, connections: number): boolean {
    return this.dialCap(now) < connections
  }

  /**
   * The most connections to dial up to at `now`: unbounded before any join, `hold`
   * during a wave and for firstStepMs after it, then one more every rampMs.
   */
  dialCap (now: number): number {
    if (this.startedAt === undefined) return Infinity
    const { hold, rampMs, firstStepMs = 0 } = this.opts
    const step = this.end(this.startedAt) + firstStepMs
    return now < step ? hold : hold + 1 + Math.floor((now - step) / rampMs)
  }
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
  /**
   * Probe ring: members to connect to first, neighbours whose connections are never
   * closed, and members expected to dial us (never dialled from here, so a pair
   * does not handshake twice).
   */
  ring?: () => { observes: readonly string[], neighbours: readonly string[], awaited?: readonly string[] }
  /** Connections to keep at least (default 6). */
  min?: number
  /** The most connections to dial up to this tick, when lower than min (a join wave's hold, JoinWave); never closes any. */
  dialCap?: () => number
  /** Connections above which our own are closed (default 10). */
  max?: number
  /** Dials in flight at once (default 3). */
  maxConcurrentDials?: number
  /** Rotate one connection every this many ticks; 0 disables (default 10). */
  rotateEveryTicks?: number
  /** Ticks a failed member is not retried (default 5). */
  failureBackoffTicks?: number
  dialTimeoutMs?: number
  /** Connections younger than this are never closed (default 30 000 ms). */
  minConnectionAgeMs?: number
  random?: () => number
  /** Members not to dial yet (just learned); connected and kept ones are unaffected. */
  recent?: RecentMembers
  /** The clock `recent` was stamped with (default Date.now); connection ages always use the wall clock. */
  now?: () => number
  /** A dial failure; membership may take it as a hint. */
  onDialFailed?: (id: string, err: unknown) => void
}

export interface PeerSamplerStats { dials: number, dialFailures: number, closes: number, rotations: number }

export class PeerSampler {
  readonly stats: PeerSamplerStats = { dials: 0, dialFailures: 0, closes: 0, rotations: 0 }
  private readonly dialing = new Set<string>()
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
    const open = this.node.getConnections().filter(c => c.status === 'open')
    const connected = open.map(c => c.remotePeer.toString())
    // Hysteresis: a connection opened moments ago is not closed. While many members
    // join at once every node's ring neighbours keep changing; closing yesterday's
    // neighbour only to redial it a second later costs a handshake each time.
    const now = Date.now() // libp2p stamps connection timelines with the wall clock
    const minAge = this.opts.minConnectionAgeMs ?? 30_000
    const young = open.filter(c => now - c.timeline.open < minAge).map(c => c.remotePeer.toString())
    // The dialler owns a connection, whichever part of the agent dialled it (this
    // sampler, a join, a push-pull, a probe): it alone may close it, so both ends
    // never close a pair at once, and connections made in passing are trimmed too
    // (left open, the join storm's and anti-entropy's dials add up to a full mesh).
    const outbound = open.filter(c => c.direction === 'outbound').map(c => c.remotePeer.toString())
    const every = this.opts.rotateEveryTicks ?? 10
    let members: SampleMember[]
    try { members = this.opts.members() } catch { members = [] }
    let ring: { observes: readonly string[], neighbours: readonly string[], awaited?: readonly string[] } = { observes: [], neighbours: [] }
    try { ring = this.opts.ring?.() ?? ring } catch { /* sample without it */ }
    const recent = this.opts.recent
    if (recent !== undefined && recent.size > 0) {
      const at = (this.opts.now ?? Date.now)()
      members = members.filter(m => !recent.held(m.id, at))
      ring = { ...ring, observes: ring.observes.filter(id => !recent.held(id, at)) }
    }
    const plan = planSampling({
      self: this.node.peerId.toString(),
      connected,
      dialing: [...this.dialing],
      ours: outbound,
      candidates: members,
      preferred: ring.observes,
      keep: [...ring.neighbours, ...young],
      avoid: new Set([...this.failedAt.keys(), ...(ring.awaited ?? [])]),
      min: Math.min(this.opts.min ?? 6, this.dialCap()),
      max: this.opts.max ?? 10,
      maxConcurrentDials: this.opts.maxConcurrentDials ?? 3,
      rotate: every > 0 && this.ticks % every === 0,
      random: this.opts.random ?? Math.random
    })
    if (plan.rotated === true) this.stats.rotations++
    for (const m of plan.dial) void this.dialMember(m)
    for (const id of plan.close) void this.close(id)
    return plan
  }

  stop (): void { this.stopped = true }

  private dialCap (): number {
    try { return this.opts.dialCap?.() ?? Infinity } catch { return Infinity }
  }

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
    } catch (err) {
      this.stats.dialFailures++
      this.failedAt.set(m.id, this.ticks)
      try { this.opts.onDialFailed?.(m.id, err) } catch { /* the hint sink must not break sampling */ }
    } finally {
      this.dialing.delete(m.id)
    }
  }

  private async close (id: string): Promise<void> {
    this.stats.closes++
    try { await this.node.hangUp(peerIdFromString(id)) } catch { /* already gone */ }
  }
}

// Deterministic simulator: many membership cores over a fake network, driven by
// a virtual clock and one seeded PRNG. It plays the shell's part exactly as the
// agent will: persist, then send/publish, then handle events; one timer per node
// at core.nextDeadline(). Nodes can crash (drop everything), pause (timers and
// inbound messages wait until resume, like SIGSTOP or a long GC) and restart
// with their persisted incarnation.

import { createMembership, PROBE_TYPES, type Membership, type MemberEvent, type MembershipConfig, type MembershipMessage, type ProbeMessage } from '../../protocol/membership/index.js'
import { channelOf, decodeMembershipMessage, encodeMembershipMessage } from '../../protocol/wire/index.js'
import { VirtualClock } from './virtual-clock.js'
import { FakeNetwork, type NetworkOptions } from './fake-network.js'
import { createPrng, forkPrng, type Random } from './prng.js'

export interface SimulationOptions {
  readonly seed: number
  readonly config?: Partial<MembershipConfig>
  readonly network?: NetworkOptions
  /** Round-trip every message through the wire codec (slower; catches codec/limit bugs). Default true. */
  readonly wire?: boolean
}

export type NodeState = 'running' | 'paused' | 'crashed'

export class SimNode {
  state: NodeState = 'running'
  persisted: number | undefined
  /** In the gossip mesh: set once the node has joined (or is the first node). */
  meshed = false
  timerAt = Infinity
  timerToken = 0
  /** Bumped on restart so events of a previous life are ignored. */
  life = 0
  readonly inbox: Array<{ from: string, msg: MembershipMessage, reliable: boolean }> = []
  constructor (readonly id: string, public core: Membership) {}
}

export interface SimStats {
  direct: number
  directLost: number
  gossipPublished: number
  gossipDelivered: number
  wireBytes: number
  byType: Record<string, number>
  /** Unordered pairs that exchanged direct messages: the connections a real transport would hold. */
  pairs: Set<string>
}

export class Simulation extends VirtualClock {
  readonly nodes = new Map<string, SimNode>()
  readonly net: FakeNetwork
  readonly stats: SimStats = { direct: 0, directLost: 0, gossipPublished: 0, gossipDelivered: 0, wireBytes: 0, byType: {}, pairs: new Set() }
  /** Called for every member event any node reports. */
  onEvent: ((node: string, event: MemberEvent) => void) | undefined
  private readonly random: Random
  private readonly wire: boolean

  constructor (private readonly opts: SimulationOptions) {
    super()
    this.random = createPrng(opts.seed)
    this.net = new FakeNetwork(opts.network ?? {}, forkPrng(this.random))
    this.wire = opts.wire ?? true
  }

  node (id: string): SimNode {
    const n = this.nodes.get(id)
    if (n === undefined) throw new Error(`no simulated node ${id}`)
    return n
  }

  core (id: string): Membership { return this.node(id).core }

  /** Starts a node; with `join`, it joins through that seed (and enters the gossip mesh). */
  addNode (id: string, join?: string): SimNode {
    const core = this.makeCore(id, undefined)
    const node = new SimNode(id, core)
    this.nodes.set(id, node)
    this.start(node, join)
    return node
  }

  /** kill -9: the node stops and its messages in flight to it are dropped. */
  crash (id: string): void {
    const n = this.node(id)
    n.state = 'crashed'
    n.inbox.length = 0
  }

  /** Freezes the node: no timers, inbound messages wait in its inbox. */
  pause (id: string): void { this.node(id).state = 'paused' }

  resume (id: string): void {
    const n = this.node(id)
    if (n.state !== 'paused') return
    n.state = 'running'
    for (const m of n.inbox.splice(0)) n.core.receive(m.from, m.msg, this.now, { reliable: m.reliable })
    n.core.tick(this.now)
    this.flush(n)
  }

  /** Restarts a crashed node from its persisted incarnation and joins through `seed`. */
  restart (id: string, seed?: string): SimNode {
    const n = this.node(id)
    n.core = this.makeCore(id, n.persisted)
    n.life++
    n.state = 'running'
    n.meshed = false
    n.timerAt = Infinity
    n.inbox.length = 0
    this.start(n, seed)
    return n
  }

  partition (groups: readonly (readonly string[])[]): void { this.net.partition(groups) }

  heal (): void { this.net.heal() }

  /** Runs the virtual clock forward by `ms`. */
  running (): SimNode[] { return [...this.nodes.values()].filter(n => n.state === 'running') }

  /** True when every running node sees exactly the running nodes as alive and nothing else as alive/suspect. */
  allSeeAllAlive (): boolean {
    const live = this.running()
    return live.every(n => {
      const c = n.core.counts()
      return c.alive === live.length && c.suspect === 0 && live.every(o => n.core.get(o.id)?.status === 'alive')
    })
  }

  /** True when every running node reports the same checksum. */
  checksumsAgree (): boolean {
    const sums = new Set(this.running().map(n => n.core.checksum()))
    return sums.size === 1
  }

  // ------------------------------------------------------------ internals

  private makeCore (id: string, incarnation: number | undefined): Membership {
    return createMembership({
      self: { id, addrs: [`/memory/${id}`], meta: new TextEncoder().encode(`node ${id}`) },
      incarnation,
      config: this.opts.config,
      random: forkPrng(this.random),
      now: this.now
    })
  }

  private start (node: SimNode, join: string | undefined): void {
    if (join !== undefined) node.core.join(join, this.now)
    node.meshed = this.nodes.size === 1
    // gossipsub grafts a new peer into the mesh at a heartbeat: until then it hears no gossip.
    if (join !== undefined) {
      const life = node.life
      const graft = (): void => { if (node.state !== 'crashed' && node.life === life) node.meshed = true }
      if (this.net.meshDelay > 0) this.queue.push(this.now + this.random() * this.net.meshDelay, graft)
      else graft()
    }
    this.flush(node)
  }

  /** Plays the shell: persist, send, publish, events; then re-arm the node's timer. */
  private flush (node: SimNode): void {
    const r = node.core.ready()
    if (r.persist !== undefined) {
      if (node.persisted !== undefined && r.persist.incarnation < node.persisted) throw new Error(`${node.id} incarnation went backwards`)
      node.persisted = r.persist.incarnation
    }
    for (const out of r.send) this.sendDirect(node.id, out.to, out.msg, out.reliable === true)
    for (const msg of r.publish) this.publish(node, msg)
    if (this.onEvent !== undefined) for (const e of r.events) this.onEvent(node.id, e)
    this.arm(node)
  }

  private arm (node: SimNode): void {
    if (node.state === 'crashed') return
    const at = Math.max(this.now, node.core.nextDeadline())
    if (!Number.isFinite(at) || at >= node.timerAt) return
    const token = ++node.timerToken
    node.timerAt = at
    this.queue.push(at, () => {
      if (node.timerToken !== token || node.state === 'crashed') return
      node.timerAt = Infinity
      if (node.state === 'paused') {
        node.timerAt = Infinity
        return
      }
      node.core.tick(this.now)
      this.flush(node)
    })
  }

  private roundTrip (msg: MembershipMessage, channel: 'gossip' | 'probe' | 'sync'): MembershipMessage {
    this.stats.byType[msg.type] = (this.stats.byType[msg.type] ?? 0) + 1
    if (!this.wire) return msg
    const bytes = encodeMembershipMessage(msg)
    this.stats.wireBytes += bytes.length
    return decodeMembershipMessage(bytes, channel)
  }

  private sendDirect (from: string, to: string, msg: MembershipMessage, reliable: boolean): void {
    this.stats.direct++
    this.stats.pairs.add(from < to ? `${from} ${to}` : `${to} ${from}`)
    const decoded = this.roundTrip(msg, channelOf(msg))
    // Probes not marked reliable are what the agent sends as UDP datagrams.
    const datagram = !reliable && PROBE_TYPES.includes(msg.type as ProbeMessage['type'])
    const delay = datagram && this.net.datagramsBlocked(to) ? undefined : this.net.directDelay(from, to)
    const target = this.nodes.get(to)
    if (delay === undefined || target === undefined) {
      this.stats.directLost++
      return
    }
    this.queue.push(this.now + delay, () => this.deliver(target, from, decoded, reliable))
  }

  private publish (node: SimNode, msg: MembershipMessage): void {
    this.stats.gossipPublished++
    if (!node.meshed || node.state === 'crashed') return
    const decoded = this.roundTrip(msg, 'gossip')
    // A few delay buckets per publish: realistic spread without one event per recipient.
    const buckets: SimNode[][] = [[], [], [], []]
    for (const other of this.nodes.values()) {
      if (other === node || other.state === 'crashed' || !other.meshed || !this.net.connected(node.id, other.id)) continue
      if (this.net.gossipLost()) continue
      buckets[Math.floor(this.random() * buckets.length)].push(other)
    }
    for (const group of buckets) {
      if (group.length === 0) continue
      this.queue.push(this.now + this.net.gossipDelay(), () => {
        for (const target of group) {
          this.stats.gossipDelivered++
          this.deliver(target, node.id, decoded)
        }
      })
    }
  }

  private deliver (target: SimNode, from: string, msg: MembershipMessage, reliable = false): void {
    if (target.state === 'crashed') return
    if (target.state === 'paused') {
      target.inbox.push({ from, msg, reliable })
      return
    }
    target.core.receive(from, msg, this.now, { reliable })
    this.flush(target)
  }
}

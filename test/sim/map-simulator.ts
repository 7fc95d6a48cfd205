// Many EpochMachines on a virtual clock, with the shell's duties played by the
// harness: builds finish after a delay with made-up CIDs, maps are gossiped to
// every reachable node, a node behind pulls the newest map from a member ahead of
// it, fetches and installs take time, and each node's meta (epoch, ready, held map
// hash) reaches the others after a lag, as membership gossip would. Crashes,
// restarts (from the installed map, as from disk) and partitions are inputs. The
// same core the agent runs, so scenario tests can run it at a scale and with
// interleavings real processes cannot.
import { EpochMachine, mapHash, type BuildRequest, type ClusterMap, type EpochViewMember, type RingDevices } from '../../protocol/map/index.js'
import type { NodeMeta } from '../../protocol/node-meta.js'
import { cidOfText } from '../map-fixtures.js'
import { VirtualClock } from './virtual-clock.js'
import { createPrng, forkPrng, type Random } from './prng.js'

export interface MapSimOptions {
  seed: number
  quietMs?: number
  /** Uniform delay ranges in ms. */
  gossipMs?: [number, number]
  /** How late one node learns another's meta or liveness change (membership gossip). */
  viewLagMs?: [number, number]
  /** Failure detection: a crashed or unreachable node is marked dead this long after. */
  detectMs?: [number, number]
  buildMs?: [number, number]
  fetchMs?: [number, number]
  retryMs?: number
}

/** `version` orders a node's adverts, as membership's incarnation does: an older one never overwrites a newer. */
interface Seen { status: 'alive' | 'dead', since: number, meta: NodeMeta, version: number }

export class MapSimNode {
  m: EpochMachine
  running = true
  group = 0
  weight = 100
  /** The meta this node advertises now, and how many times it changed. */
  meta: NodeMeta
  version = 0
  /** This node's view of the others. */
  readonly seen = new Map<string, Seen>()
  installedEpochs: number[] = []
  pulling = false
  lastPullAt = -Infinity
  timerToken = 0

  constructor (readonly id: string, readonly index: number, readonly sim: MapSimulation) {
    this.m = sim.newMachine(id)
    this.meta = sim.metaOf(this)
  }
}

export class MapSimulation extends VirtualClock {
  readonly nodes: MapSimNode[] = []
  /** Device lists of every map built, by hash: what "installing" hands back. */
  readonly devicesOf = new Map<string, RingDevices>()
  readonly published: ClusterMap[] = []
  private readonly random: Random
  private readonly o: Required<MapSimOptions>

  constructor (ids: readonly string[], opts: MapSimOptions) {
    super()
    this.o = { quietMs: 300, gossipMs: [10, 60], viewLagMs: [20, 400], detectMs: [1000, 3000], buildMs: [50, 300], fetchMs: [20, 200], retryMs: 500, ...opts }
    this.random = createPrng(opts.seed)
    ids.forEach((id, i) => this.nodes.push(new MapSimNode(id, i, this)))
    for (const n of this.nodes) for (const other of this.nodes) if (other !== n) n.seen.set(other.id, { status: 'alive', since: 0, meta: other.meta, version: 0 })
    for (const n of this.nodes) this.viewChanged(n)
    this.at(this.between([0, 15_000]), () => { this.periodicAntiEntropy() })
  }

  newMachine (id: string): EpochMachine {
    return new EpochMachine({ selfId: id, quietMs: this.o.quietMs, maxDelayMs: 10 * this.o.quietMs, removeDeadAfterMs: 3_600_000, retryMs: this.o.retryMs, syncGraceMs: 2000 })
  }

  metaOf (n: MapSimNode): NodeMeta {
    const r = n.m.readiness()
    const hash = n.m.installed().hash
    return {
      region: 1,
      zone: 1 + (n.index % 3),
      storageIp: `10.0.${n.index >> 8}.${n.index & 255}`,
      storagePort: 6200,
      devices: [{ name: 'sdb', weight: n.weight }],
      epoch: r.epoch,
      ready: r.state === 'ready',
      ...(hash !== undefined ? { holds: [hash] } : {})
    }
  }

  node (id: string): MapSimNode { return this.nodes.find(n => n.id === id) as MapSimNode }
  reachable (a: MapSimNode, b: MapSimNode): boolean { return a.running && b.running && a.group === b.group }

  // ---- inputs ------------------------------------------------------------

  bootstrap (id: string, rings: unknown[]): void {
    const n = this.node(id)
    n.m.bootstrap(rings, this.now)
    this.pump(n)
  }

  setWeight (id: string, weight: number): void {
    const n = this.node(id)
    n.weight = weight
    this.advertise(n)
  }

  crash (id: string): void {
    const n = this.node(id)
    n.running = false
    n.timerToken++
    this.livenessChanged()
  }

  /** Restarts from what was installed (as from disk); syncing until caught up. */
  restart (id: string): void {
    const n = this.node(id)
    const hash = n.m.installed().hash
    const map = hash === undefined ? undefined : n.m.knownMap(hash)
    n.m = this.newMachine(id)
    n.running = true
    n.pulling = false
    if (map !== undefined && hash !== undefined) n.m.restore(map, this.devicesOf.get(hash) ?? {}, this.now)
    this.viewChanged(n)
    this.advertise(n)
    this.livenessChanged()
    // Rejoining, it push-pulls: the whole current view, not just what it missed.
    this.at(this.between(this.o.viewLagMs), () => { this.antiEntropy(n) })
  }

  /** Puts the nodes in `ids` in group `group` (0 is everyone else's). */
  partition (ids: readonly string[], group: number): void {
    for (const id of ids) this.node(id).group = group
    this.livenessChanged()
  }

  heal (): void {
    for (const n of this.nodes) n.group = 0
    this.livenessChanged()
    // The dead-member reconnect push-pulls across the healed cut.
    for (const n of this.nodes) this.at(this.between(this.o.detectMs), () => { this.antiEntropy(n) })
  }

  /** Every running node ready with the same installed map; that map's hash, else undefined. */
  agreed (): string | undefined {
    const running = this.nodes.filter(n => n.running)
    const hashes = new Set(running.map(n => n.m.installed().hash))
    if (hashes.size !== 1 || !running.every(n => n.m.readiness().state === 'ready')) return undefined
    return [...hashes][0]
  }

  // ---- the shell's duties --------------------------------------------------

  private between ([lo, hi]: [number, number]): number { return lo + this.random() * (hi - lo) }

  /** A node's meta changed: every reachable node hears of it after a lag. */
  private advertise (n: MapSimNode): void {
    n.meta = this.metaOf(n)
    const meta = n.meta
    const version = ++n.version
    for (const other of this.nodes) {
      if (other === n || !this.reachable(n, other)) continue
      this.at(this.between(this.o.viewLagMs), () => {
        const s = other.seen.get(n.id)
        if (!this.reachable(n, other) || (s !== undefined && s.version > version)) return
        other.seen.set(n.id, { status: 'alive', since: s?.status === 'alive' ? s.since : this.now, meta, version })
        this.viewChanged(other)
      })
    }
  }

  /** A push-pull: `n` learns the newest meta of every member it can reach. */
  private antiEntropy (n: MapSimNode): void {
    if (!n.running) return
    let changed = false
    for (const b of this.nodes) {
      const s = n.seen.get(b.id)
      if (b === n || s === undefined || !this.reachable(n, b) || (s.status === 'alive' && s.version >= b.version)) continue
      n.seen.set(b.id, { status: 'alive', since: s.status === 'alive' ? s.since : this.now, meta: b.meta, version: b.version })
      changed = true
    }
    if (changed) this.viewChanged(n)
  }

  /** Membership's periodic push-pull, every 15 s on average per node. */
  private periodicAntiEntropy (): void {
    const n = this.nodes[Math.floor(this.random() * this.nodes.length) % this.nodes.length]
    this.antiEntropy(n)
    this.at(15_000 / this.nodes.length, () => { this.periodicAntiEntropy() })
  }

  /** Who can reach whom changed: detection marks the unreachable dead, reunions mark alive. */
  private livenessChanged (): void {
    for (const a of this.nodes) {
      for (const b of this.nodes) {
        if (a === b || !a.running) continue
        const ok = this.reachable(a, b)
        const s = a.seen.get(b.id) as Seen
        if (ok && s.status === 'dead') {
          this.at(this.between(this.o.viewLagMs), () => {
            if (!this.reachable(a, b)) return
            a.seen.set(b.id, { status: 'alive', since: this.now, meta: b.meta, version: b.version })
            this.viewChanged(a)
          })
        } else if (!ok && s.status === 'alive') {
          this.at(this.between(this.o.detectMs), () => {
            const cur = a.seen.get(b.id) as Seen
            if (!a.running || this.reachable(a, b) || cur.status === 'dead') return
            a.seen.set(b.id, { ...cur, status: 'dead', since: this.now })
            this.viewChanged(a)
          })
        }
      }
    }
  }

  private viewChanged (n: MapSimNode): void {
    if (!n.running) return
    const view: EpochViewMember[] = [{ id: n.id, status: 'alive', statusSince: 0, meta: n.meta }]
    for (const [id, s] of n.seen) view.push({ id, status: s.status, statusSince: s.since, meta: s.meta })
    n.m.onMembership(view, this.now)
    n.m.tick(this.now)
    this.pump(n)
  }

  private pump (n: MapSimNode): void {
    if (!n.running) return
    const m = n.m
    for (let round = 0; round < 8; round++) {
      const r = m.ready()
      if (r.build !== undefined) { const req = r.build; this.at(this.between(this.o.buildMs), () => { this.finishBuild(n, m, req) }) }
      if (r.publish !== undefined) this.gossip(n, r.publish)
      if (r.catchUp !== undefined) { const { missing, from } = r.catchUp; this.at(this.between(this.o.gossipMs), () => { this.catchUp(n, m, missing, from) }) }
      if (r.fetch !== undefined) { const hash = r.fetch.hash; this.at(this.between(this.o.fetchMs), () => { if (this.live(n, m)) { m.onBlobsFetched(hash, this.now); this.pump(n) } }) }
      if (r.install !== undefined) {
        const { map, hash } = r.install
        this.at(this.between(this.o.fetchMs), () => {
          if (!this.live(n, m)) return
          m.onBlobsInstalled(hash, this.now, this.devicesOf.get(hash) ?? {})
          if (m.installed().hash === hash) n.installedEpochs.push(map.epoch)
          this.pump(n)
        })
      }
      const metaNow = this.metaOf(n)
      if (JSON.stringify(metaNow) !== JSON.stringify(n.meta)) this.advertise(n)
      if (r.events.length === 0) break
    }
    this.maybePull(n)
    this.arm(n)
  }

  /** Still the same process (not crashed, not restarted since). */
  private live (n: MapSimNode, m: EpochMachine): boolean { return n.running && n.m === m }

  private finishBuild (n: MapSimNode, m: EpochMachine, req: BuildRequest): void {
    if (!this.live(n, m)) return
    const rings: ClusterMap['rings'] = {}
    const devices: Record<string, RingDevices[string]> = {}
    for (const r of req.rings) {
      const keep = !r.rebuild && req.base?.rings[r.name] !== undefined
      rings[r.name] = keep && req.base !== undefined ? req.base.rings[r.name] : { ...r.params, cid: cidOfText(`${r.name}@${req.epoch}@${n.id}@${this.now}`), builderCid: cidOfText(`${r.name}.b@${req.epoch}@${n.id}@${this.now}`) }
      devices[r.name] = r.devices.map((d, i) => ({ ...d, id: i }))
    }
    const map: ClusterMap = { version: 1, epoch: req.epoch, coordinator: n.id, prev: req.baseHash, rings, members: req.members }
    this.devicesOf.set(mapHash(map), devices)
    m.onBuildDone(req.id, { ok: true, map, devices }, this.now)
    this.pump(n)
  }

  private gossip (from: MapSimNode, map: ClusterMap): void {
    this.published.push(map)
    for (const to of this.nodes) {
      if (to === from || !this.reachable(from, to)) continue
      this.at(this.between(this.o.gossipMs), () => {
        if (!this.reachable(from, to)) return
        if (to.m.judge(map, from.id) === 'reject') return
        to.m.onMapCandidate(map, from.id, this.now)
        this.pump(to)
      })
    }
  }

  private catchUp (n: MapSimNode, m: EpochMachine, missing: string, from: string): void {
    if (!this.live(n, m)) return
    const holder = this.nodes.find(x => this.reachable(n, x) && x.m.knownMap(missing) !== undefined)
    const map = holder?.m.knownMap(missing)
    if (map !== undefined) m.onMapFetched(map, this.now)
    else m.onCatchUpFailed(missing, this.now)
    void from
    this.pump(n)
  }

  /** Members advertise a newer epoch than our greatest map: ask one of them for its newest map. */
  private maybePull (n: MapSimNode): void {
    const have = n.m.currentMap()?.epoch ?? 0
    if (n.pulling || n.m.readiness().newestSeen <= have) return
    const ahead = [...n.seen].filter(([, s]) => s.status === 'alive' && s.meta.epoch > have).map(([id]) => id)
    if (ahead.length === 0) return
    if (this.now - n.lastPullAt < this.o.retryMs) {
      const m = n.m
      this.at(n.lastPullAt + this.o.retryMs - this.now + 1, () => { if (this.live(n, m)) this.pump(n) })
      return
    }
    const from = this.node(ahead[Math.floor(this.random() * ahead.length) % ahead.length])
    const m = n.m
    n.pulling = true
    n.lastPullAt = this.now
    this.at(this.between(this.o.gossipMs), () => {
      n.pulling = false
      if (!this.live(n, m)) return
      const map = this.reachable(n, from) ? from.m.currentMap() : undefined
      if (map !== undefined) m.onMapCandidate(map, map.coordinator, this.now)
      this.pump(n)
    })
  }

  private arm (n: MapSimNode): void {
    const at = n.m.nextDeadline()
    const token = ++n.timerToken
    if (at === undefined) return
    const m = n.m
    this.queue.push(Math.max(this.now, at) + 1, () => {
      if (n.timerToken !== token || !this.live(n, m)) return
      m.tick(this.now)
      this.pump(n)
    })
  }

  /** A fork of the simulation's randomness, for scenario scripts. */
  forkRandom (): Random { return forkPrng(this.random) }
}

// The map-epoch state machine, etcd-raft style: pure and clock-injected. The shell
// feeds it membership views, received maps, build results and install reports, calls
// tick(now) at nextDeadline(), and acts on what ready() returns (build, publish,
// fetch, install, catch-up). No I/O, no clock, no randomness inside.
//
// Rules (docs/cluster-map.md § Map epochs and coordinator):
// - every node keeps the greatest valid map it has seen (acceptMap);
// - only the coordinator (coordinatorChoice over the view) plans, after the view has
//   been quiet for quietMs, so ten joins make one epoch; a build whose base map was
//   replaced meanwhile is discarded and re-planned;
// - a new epoch is published only with a strict majority of the previous map's
//   members alive, unless forced (force-leave);
// - ready means: the greatest map known is fully installed, and no member claims a
//   newer epoch.
import type { NodeMeta } from '../node-meta.js'
import { coordinatorChoice, type CoordinatorCandidate, type CoordinatorChoice } from './coordinator.js'
import { QuietWindow } from './debounce.js'
import { mapHash, type ClusterMap } from './map.js'
import { acceptMap, compareMaps } from './order.js'
import { planRebalance, type PlanMember, type RingDefinition } from './plan.js'
import { compareIds } from './validate.js'
import { validateRingDefinition } from './ring-definition.js'
import {
  EpochError, type BuildOutcome, type BuildRequest, type EpochEvent, type EpochMachineConfig, type EpochReady,
  type EpochViewMember, type Readiness, type ReadinessState, type RingDevices
} from './epoch-types.js'

export * from './epoch-types.js'
export { validateRingDefinition } from './ring-definition.js'

/** Maps kept by hash for chain checks (a sibling epoch after a heal, catch-up). */
const KNOWN_MAPS = 64
/** Candidates waiting for a predecessor or for their signer to show up in membership. */
const PARKED_MAPS = 16

export type MapVerdict = 'accept' | 'ignore' | 'reject'

interface Parked { map: ClusterMap, signer: string, waitingFor: string }

function metaKey (meta: NodeMeta | undefined): string {
  if (meta === undefined) return '-'
  const devs = meta.devices.map(d => `${d.name}=${d.weight}`).join(',')
  return `${meta.region}/${meta.zone}/${meta.storageIp}/${meta.storagePort}/${devs}`
}

export class EpochMachine {
  readonly cfg: EpochMachineConfig
  private current: ClusterMap | undefined
  private currentHash: string | undefined
  private readonly known = new Map<string, ClusterMap>()
  private readonly devicesByHash = new Map<string, RingDevices>()
  private installedHash: string | undefined
  private installedEpoch = 0
  private view: EpochViewMember[] = []
  private viewSeen = false
  private selfMember = false
  private readonly quiet: QuietWindow
  private planKey = ''
  private lastNow = 0
  private building: { id: number, baseHash: string | null, epoch: number, ringSetIds: number[], bootstrap: boolean } | undefined
  private nextBuildId = 1
  private nextRingSetId = 1
  private ringSets: Array<{ id: number, def: RingDefinition }> = []
  private bootstrapDefs: RingDefinition[] | undefined
  private force = false
  private retryPlanAt: number | undefined
  private fetchRetryAt: number | undefined
  private readonly parked = new Map<string, Parked>()
  private newestCandidate = 0
  private caughtUp = true
  private restoredAt: number | undefined
  private wasCoordinator = false
  private lastState: ReadinessState | undefined
  private out: Omit<EpochReady, 'readiness' | 'events'> = {}
  private events: EpochEvent[] = []

  constructor (cfg: EpochMachineConfig) {
    this.cfg = cfg
    this.quiet = new QuietWindow(cfg.quietMs, cfg.maxDelayMs)
  }

  // ---- queries -------------------------------------------------------------

  currentMap (): ClusterMap | undefined { return this.current }
  currentMapHash (): string | undefined { return this.currentHash }
  installed (): { epoch: number, hash: string | undefined } { return { epoch: this.installedEpoch, hash: this.installedHash } }
  knownMap (hash: string): ClusterMap | undefined { return this.known.get(hash) }
  buildInFlight (): boolean { return this.building !== undefined }

  readiness (): Readiness {
    return { state: this.state(), epoch: this.installedEpoch, newestSeen: this.newestSeen() }
  }

  /** The coordinator as this node sees it (its own readiness counts for itself). */
  coordinator (): CoordinatorChoice | undefined {
    const candidates: CoordinatorCandidate[] = this.view.map(m => m.id === this.cfg.selfId
      ? { id: m.id, status: this.selfMember ? 'alive' : 'left', ready: this.state() === 'ready', epoch: this.installedEpoch }
      : { id: m.id, status: m.status, ready: m.meta?.ready ?? false, epoch: m.meta?.epoch ?? 0 })
    return coordinatorChoice(candidates)
  }

  isCoordinator (): boolean { return this.coordinator()?.id === this.cfg.selfId }

  /** When tick() has something to do next if no other input arrives; undefined for never. */
  nextDeadline (): number | undefined {
    const at: number[] = []
    // Plan deadlines count only while this node could plan: a passed deadline it cannot
    // act on would wake the shell at once, again and again. Whatever makes planning
    // possible (an install, a coordinator change) comes with a pump that re-reads this.
    if (this.canPlan()) {
      const q = this.quiet.dueAt()
      if (q !== undefined) at.push(q)
      if (this.retryPlanAt !== undefined) at.push(this.retryPlanAt)
      if (this.ringSets.length > 0) at.push(this.lastNow)
    }
    if (this.bootstrapDefs !== undefined && this.building === undefined) at.push(this.lastNow)
    if (this.fetchRetryAt !== undefined) at.push(this.fetchRetryAt)
    // Once the grace has passed, only a newer map or a peer's report ends the syncing.
    const graceEnds = this.restoredAt === undefined ? undefined : this.restoredAt + this.cfg.syncGraceMs
    if (!this.caughtUp && graceEnds !== undefined && graceEnds > this.lastNow) at.push(graceEnds)
    for (const m of this.view) {
      const expiry = m.statusSince + this.cfg.removeDeadAfterMs
      if (m.status === 'dead' && expiry > this.lastNow) at.push(expiry)
    }
    return at.length === 0 ? undefined : Math.min(...at)
  }

  /** Drains what the shell must act on. */
  ready (): EpochReady {
    this.noteReadiness()
    const r: EpochReady = { ...this.out, readiness: this.readiness(), events: this.events }
    this.out = {}
    this.events = []
    return r
  }

  // ---- inputs --------------------------------------------------------------

  onMembership (view: readonly EpochViewMember[], now: number): void {
    this.lastNow = Math.max(this.lastNow, now)
    const seen = new Map<string, EpochViewMember>()
    for (const m of view) seen.set(m.id, m)
    // Not in the view yet: not a member, so it never coordinates (status left) until membership lists it.
    this.selfMember = seen.has(this.cfg.selfId)
    if (!this.selfMember) seen.set(this.cfg.selfId, { id: this.cfg.selfId, status: 'left', statusSince: now })
    this.view = [...seen.values()].sort((a, b) => compareIds(a.id, b.id))
    this.viewSeen = true
    this.checkCaughtUpByPeers()
    this.notePlanInputs(now)
    // Candidates parked for an unknown signer may be acceptable now.
    for (const [key, p] of [...this.parked]) {
      if (p.waitingFor === `signer:${p.signer}` && this.isKnownMember(p.signer)) {
        this.parked.delete(key)
        this.onMapCandidate(p.map, p.signer, now)
      }
    }
    this.checkCoordinatorChange(now)
  }

  /** The verdict the gossip validator should give, without changing any state. */
  judge (map: ClusterMap, signer: string): MapVerdict {
    if (this.usurps(map)) return 'ignore'
    const v = acceptMap(this.current, map, this.acceptContext(signer))
    if (v.accept) return 'accept'
    if ('catchUp' in v) return 'accept' // valid and newer; we only lack its predecessor
    if (v.reason === 'signer-not-coordinator' || v.reason === 'bad-prev') return 'reject'
    return 'ignore' // unknown signer (membership may lag) or simply not newer
  }

  /** A map from gossip or from a sync exchange, signed by `signer`. */
  onMapCandidate (map: ClusterMap, signer: string, now: number): MapVerdict {
    this.lastNow = Math.max(this.lastNow, now)
    if (this.usurps(map)) {
      this.events.push({ type: 'map-ignored', epoch: map.epoch, reason: 'not-rightful-coordinator' })
      return 'ignore'
    }
    const v = acceptMap(this.current, map, this.acceptContext(signer))
    if (v.accept) {
      this.adopt(map, mapHash(map), now)
      return 'accept'
    }
    if ('catchUp' in v) {
      this.newestCandidate = Math.max(this.newestCandidate, map.epoch)
      this.park({ map, signer, waitingFor: v.missing })
      this.out.catchUp = { missing: v.missing, from: signer }
      this.events.push({ type: 'catch-up', missing: v.missing, forEpoch: map.epoch })
      return 'accept'
    }
    if (v.reason === 'unknown-signer') this.park({ map, signer, waitingFor: `signer:${signer}` })
    if (v.reason === 'not-newer' && this.currentHash !== undefined && mapHash(map) === this.currentHash) this.markCaughtUp()
    this.events.push({ type: 'map-ignored', epoch: map.epoch, reason: v.reason })
    return v.reason === 'signer-not-coordinator' || v.reason === 'bad-prev' ? 'reject' : 'ignore'
  }

  /**
   * A predecessor fetched by its hash after a catch-up request. The signed successor
   * that named it vouches for it, so it needs no signature of its own.
   */
  onMapFetched (map: ClusterMap, now: number): void {
    const hash = mapHash(map)
    this.remember(map, hash)
    const waiting = this.parked.get(hash)
    if (waiting !== undefined) {
      this.parked.delete(hash)
      this.onMapCandidate(waiting.map, waiting.signer, now)
    }
  }

  /**
   * The predecessor could not be had: K-epoch retention may have dropped it
   * everywhere. The waiting map is then adopted as a joining node would adopt its
   * first map (trust on first use): signed by the coordinator it names, a known
   * member, and greater than ours.
   */
  onCatchUpFailed (missing: string, now: number): void {
    const waiting = this.parked.get(missing)
    if (waiting === undefined) return
    this.parked.delete(missing)
    const first = acceptMap(undefined, waiting.map, this.acceptContext(waiting.signer))
    if (first.accept && (this.current === undefined || compareMaps(waiting.map, this.current) > 0)) this.adopt(waiting.map, mapHash(waiting.map), now)
  }

  onBlobsFetched (hash: string, now: number): void {
    this.lastNow = Math.max(this.lastNow, now)
    if (hash !== this.currentHash || this.current === undefined) return // superseded meanwhile
    this.fetchRetryAt = undefined
    this.out.install = { map: this.current, hash }
  }

  onFetchFailed (hash: string, now: number): void {
    if (hash === this.currentHash) this.fetchRetryAt = now + this.cfg.retryMs
  }

  /** Installed on disk; `devices` are the builder-state device lists of its rings. */
  onBlobsInstalled (hash: string, now: number, devices: RingDevices): void {
    this.lastNow = Math.max(this.lastNow, now)
    const map = this.known.get(hash)
    if (map === undefined) return
    this.devicesByHash.set(hash, devices)
    if (map.epoch >= this.installedEpoch) {
      this.installedHash = hash
      this.installedEpoch = map.epoch
      this.events.push({ type: 'installed', epoch: map.epoch, hash })
    }
    this.checkCoordinatorChange(now)
  }

  /** After a restart: the map installed on disk is in hand at once, syncing until caught up. */
  restore (map: ClusterMap, devices: RingDevices, now: number): void {
    const hash = mapHash(map)
    this.remember(map, hash)
    this.devicesByHash.set(hash, devices)
    if (this.current === undefined || compareMaps(map, this.current) > 0) { this.current = map; this.currentHash = hash }
    this.installedHash = hash
    this.installedEpoch = map.epoch
    this.caughtUp = false
    this.restoredAt = now
  }

  onBuildDone (id: number, outcome: BuildOutcome, now: number): void {
    this.lastNow = Math.max(this.lastNow, now)
    const b = this.building
    if (b === undefined || b.id !== id) return
    this.building = undefined
    const carried = this.ringSets.filter(r => b.ringSetIds.includes(r.id))
    if (!outcome.ok) {
      this.events.push({ type: 'build-failed', id, error: outcome.error })
      // A ring set the builder refuses would fail again: answer it and drop it.
      for (const r of carried) this.events.push({ type: 'ring-set-failed', requestId: r.id, error: outcome.error })
      this.ringSets = this.ringSets.filter(r => !b.ringSetIds.includes(r.id))
      if (b.bootstrap) this.failBootstrap(outcome.error)
      else this.retryPlanAt = now + this.cfg.retryMs
      return
    }
    if (b.baseHash !== (this.currentHash ?? null) || (b.bootstrap && this.current !== undefined)) {
      // A newer map arrived while we built: our result no longer extends the greatest map.
      this.events.push({ type: 'build-stale', id, epoch: b.epoch })
      if (b.bootstrap) this.failBootstrap('a cluster map appeared while bootstrapping')
      this.quiet.noteChange(now)
      return
    }
    const map = outcome.map
    const hash = mapHash(map)
    this.devicesByHash.set(hash, outcome.devices)
    this.force = false
    if (b.bootstrap) this.bootstrapDefs = undefined
    this.adopt(map, hash, now)
    this.out.publish = map
    this.events.push({ type: 'published', epoch: map.epoch, hash })
    for (const r of carried) this.events.push({ type: 'ring-set-done', requestId: r.id, epoch: map.epoch })
    this.ringSets = this.ringSets.filter(r => !b.ringSetIds.includes(r.id))
  }

  /** Coordinator only: make `def` part of the next epoch. Returns the request id ring-set-done/failed events name. */
  requestRingSet (input: unknown, now: number): number {
    const def = validateRingDefinition(input)
    if (this.current === undefined) throw new EpochError('NO_MAP', 'no cluster map yet: bootstrap first')
    if (!this.isCoordinator()) throw new EpochError('NOT_COORDINATOR', `not the coordinator (${this.coordinator()?.id ?? 'none'} is)`)
    const existing = this.current.rings[def.name]
    if (existing !== undefined && existing.partPower !== def.partPower) {
      throw new EpochError('BAD_RING_DEF', `ring ${def.name}: partPower ${existing.partPower} cannot change to ${def.partPower} (that needs an offline partition-power increase)`)
    }
    const id = this.nextRingSetId++
    this.ringSets = this.ringSets.filter(r => r.def.name !== def.name || this.building?.ringSetIds.includes(r.id) === true)
    this.ringSets.push({ id, def })
    this.lastNow = Math.max(this.lastNow, now)
    return id
  }

  /**
   * Makes epoch 1 from `defs`. Refused, changing nothing, when any map is known, any
   * other member advertises an installed epoch, or a bootstrap is under way.
   */
  bootstrap (defs: readonly unknown[], now: number): void {
    if (!Array.isArray(defs) || defs.length === 0) throw new EpochError('BAD_RING_DEF', 'bootstrap needs at least one ring')
    const valid = defs.map(validateRingDefinition)
    const names = new Set(valid.map(d => d.name))
    if (names.size !== valid.length) throw new EpochError('BAD_RING_DEF', 'a ring is defined twice')
    if (this.current !== undefined || this.installedEpoch > 0) throw new EpochError('BOOTSTRAP_REFUSED', `a cluster map exists (epoch ${this.current?.epoch ?? this.installedEpoch})`)
    const populated = this.view.find(m => m.id !== this.cfg.selfId && (m.meta?.epoch ?? 0) > 0)
    if (populated !== undefined) throw new EpochError('BOOTSTRAP_REFUSED', `member ${populated.id} already has epoch ${populated.meta?.epoch ?? 0}`)
    if (this.bootstrapDefs !== undefined || this.building !== undefined) throw new EpochError('BUSY', 'a bootstrap is already under way')
    if (!this.selfMember) throw new EpochError('NOT_COORDINATOR', 'this node is not in the membership view yet')
    this.bootstrapDefs = valid
    this.lastNow = Math.max(this.lastNow, now)
  }

  /** Operator override (force-leave): the next epoch may be published without a majority. */
  setForce (now: number): void {
    this.force = true
    this.quiet.noteChange(now)
  }

  tick (now: number): void {
    this.lastNow = Math.max(this.lastNow, now)
    if (this.fetchRetryAt !== undefined && now >= this.fetchRetryAt && this.current !== undefined && this.currentHash !== this.installedHash) {
      this.fetchRetryAt = undefined
      this.queueFetch(this.current, this.currentHash as string)
    }
    if (!this.caughtUp && this.restoredAt !== undefined && now >= this.restoredAt + this.cfg.syncGraceMs && this.newestSeen() <= this.installedEpoch) this.markCaughtUp()
    this.notePlanInputs(now)
    this.checkCoordinatorChange(now)
    this.maybePlan(now)
  }

  // ---- internals -----------------------------------------------------------

  private state (): ReadinessState {
    if (this.current === undefined && this.installedEpoch === 0) return this.viewSeen ? 'syncing' : 'starting'
    const done = this.currentHash !== undefined && this.currentHash === this.installedHash
    return done && this.caughtUp && this.newestSeen() <= this.installedEpoch ? 'ready' : 'syncing'
  }

  private newestSeen (): number {
    let n = Math.max(this.current?.epoch ?? 0, this.installedEpoch, this.newestCandidate)
    for (const m of this.view) if ((m.status === 'alive' || m.status === 'suspect') && m.meta !== undefined) n = Math.max(n, m.meta.epoch)
    return n
  }

  private noteReadiness (): void {
    const s = this.state()
    if (s !== this.lastState) {
      this.lastState = s
      this.events.push({ type: 'readiness', state: s, epoch: this.installedEpoch })
    }
  }

  /**
   * A direct successor of our map built by someone other than the coordinator we
   * see, while that coordinator has a lower id, is alive and ready, and does not hold
   * the map itself: a member that is not the coordinator published. Ignored (not
   * rejected: views may lag at a handover). Maps that do not extend ours (a healed
   * partition's branch, catch-up) are left to the map order.
   */
  private usurps (map: ClusterMap): boolean {
    if (this.currentHash === undefined || map.prev !== this.currentHash) return false
    const choice = this.coordinator()
    if (choice === undefined || choice.rule !== 'ready' || choice.id === map.coordinator) return false
    if (compareIds(choice.id, map.coordinator) >= 0) return false
    // The rightful coordinator adopted it itself (its view lagged at a handover): follow
    // it. Nothing would ever supersede the map otherwise, since that coordinator, holding
    // it, sees nothing to re-plan, and the nodes ignoring it would stay behind for good.
    return !this.holdsMap(choice.id, map)
  }

  /** Member `id` advertises the map in its meta (the map hash heads its holds). */
  private holdsMap (id: string, map: ClusterMap): boolean {
    if (id === this.cfg.selfId) return false
    const holds = this.view.find(m => m.id === id)?.meta?.holds
    return holds !== undefined && holds.includes(mapHash(map))
  }

  private isKnownMember (id: string): boolean {
    return id === this.cfg.selfId || this.view.some(m => m.id === id)
  }

  private acceptContext (signer: string): { signer: string, isKnownMember: (id: string) => boolean, known: (h: string) => ClusterMap | undefined } {
    return { signer, isKnownMember: id => this.isKnownMember(id), known: h => this.known.get(h) }
  }

  private remember (map: ClusterMap, hash: string): void {
    this.known.delete(hash)
    this.known.set(hash, map)
    while (this.known.size > KNOWN_MAPS) {
      const oldest = this.known.keys().next().value as string
      const kept = this.known.get(oldest)
      this.known.delete(oldest)
      if (kept !== undefined && (oldest === this.currentHash || oldest === this.installedHash)) { this.known.set(oldest, kept); continue }
      this.devicesByHash.delete(oldest)
    }
  }

  private park (p: Parked): void {
    this.parked.delete(p.waitingFor)
    this.parked.set(p.waitingFor, p)
    while (this.parked.size > PARKED_MAPS) this.parked.delete(this.parked.keys().next().value as string)
  }

  private markCaughtUp (): void {
    this.caughtUp = true
    this.restoredAt = undefined
  }

  private checkCaughtUpByPeers (): void {
    if (this.caughtUp || this.installedEpoch === 0) return
    const confirmed = this.view.some(m => m.id !== this.cfg.selfId && m.status === 'alive' && m.meta?.ready === true && m.meta.epoch === this.installedEpoch)
    if (confirmed) this.markCaughtUp()
  }

  private adopt (map: ClusterMap, hash: string, now: number): void {
    this.remember(map, hash)
    this.current = map
    this.currentHash = hash
    this.events.push({ type: 'map-accepted', epoch: map.epoch, hash, coordinator: map.coordinator })
    // A newer map from the cluster after a restart: we have heard from it, and readiness now waits for this install.
    if (!this.caughtUp && hash !== this.installedHash) this.markCaughtUp()
    if (this.installedHash !== hash) this.queueFetch(map, hash)
    // The winner after a heal (or a new coordinator) re-plans from the merged view.
    if (map.coordinator !== this.cfg.selfId) this.quiet.noteChange(now)
    // A parked successor may chain onto this map now.
    const next = [...this.parked.values()].find(p => p.map.prev === hash)
    if (next !== undefined) {
      this.parked.delete(next.waitingFor)
      this.onMapCandidate(next.map, next.signer, now)
    }
  }

  private queueFetch (map: ClusterMap, hash: string): void {
    const cids: string[] = []
    for (const name of Object.keys(map.rings).sort()) cids.push(map.rings[name].cid, map.rings[name].builderCid)
    this.out.fetch = { map, hash, cids }
    this.out.install = undefined
  }

  private failBootstrap (why: string): void {
    this.bootstrapDefs = undefined
    this.events.push({ type: 'bootstrap-failed', error: why })
  }

  private checkCoordinatorChange (now: number): void {
    const is = this.isCoordinator()
    if (is && !this.wasCoordinator) this.quiet.noteChange(now) // a new coordinator re-plans once
    this.wasCoordinator = is
  }

  /** Notes a change when anything planning reads has changed: kept members, their devices, who is alive. */
  private notePlanInputs (now: number): void {
    const parts: string[] = []
    for (const m of this.view) {
      const removed = m.status === 'left' || (m.status === 'dead' && now - m.statusSince >= this.cfg.removeDeadAfterMs)
      parts.push(removed ? `${m.id}:x` : `${m.id}:${m.status === 'alive' ? 'a' : 'n'}:${metaKey(m.meta)}`)
    }
    const key = parts.join(';')
    if (key !== this.planKey) {
      if (this.planKey !== '') this.quiet.noteChange(now)
      this.planKey = key
    }
  }

  private planMembers (): PlanMember[] {
    return this.view.map(m => ({ id: m.id, status: m.id === this.cfg.selfId && this.selfMember ? 'alive' : m.status, meta: m.meta, statusSince: m.statusSince }))
  }

  /** Coordinator, no build running, and the current map installed here (plans start from its builder state). */
  private canPlan (): boolean {
    return this.building === undefined && this.current !== undefined && this.currentHash !== undefined &&
      this.installedHash === this.currentHash && this.devicesByHash.has(this.currentHash) && this.isCoordinator()
  }

  private maybePlan (now: number): void {
    if (this.building !== undefined) return
    if (this.bootstrapDefs !== undefined) {
      if (this.current !== undefined) { this.failBootstrap('a cluster map appeared'); return }
      const plan = planRebalance({ rings: this.bootstrapDefs, members: this.planMembers(), policy: { removeDeadAfterMs: this.cfg.removeDeadAfterMs, now } })
      this.startBuild(plan, undefined, null, [], true, now)
      return
    }
    const cur = this.current
    const curHash = this.currentHash
    if (cur === undefined || curHash === undefined || !this.canPlan()) return
    const planned = this.quiet.due(now) || this.ringSets.length > 0 || (this.retryPlanAt !== undefined && now >= this.retryPlanAt)
    if (!planned) return
    const devices = this.devicesByHash.get(curHash)
    if (devices === undefined) return
    this.quiet.clear()
    this.retryPlanAt = undefined
    const defs = new Map<string, RingDefinition>()
    for (const [name, e] of Object.entries(cur.rings)) defs.set(name, { name, partPower: e.partPower, replicas: e.replicas, minPartHours: e.minPartHours, overload: e.overload })
    const ringSets = [...this.ringSets]
    for (const r of ringSets) defs.set(r.def.name, r.def)
    const plan = planRebalance({
      previous: { map: cur, devices },
      rings: [...defs.values()],
      members: this.planMembers(),
      policy: { removeDeadAfterMs: this.cfg.removeDeadAfterMs, now, force: this.force }
    })
    if (!plan.changed) {
      // Nothing to do; ring sets that changed nothing are already carried by this epoch.
      for (const r of ringSets) this.events.push({ type: 'ring-set-done', requestId: r.id, epoch: cur.epoch })
      this.ringSets = []
      return
    }
    if (!plan.publish) {
      this.events.push({ type: 'gate-closed', alive: plan.gate.alive, of: plan.gate.of })
      for (const r of ringSets) this.events.push({ type: 'ring-set-failed', requestId: r.id, error: `no majority: ${plan.gate.alive} of ${plan.gate.of} previous members alive` })
      this.ringSets = []
      return
    }
    this.startBuild(plan, cur, curHash, ringSets.map(r => r.id), false, now)
  }

  private startBuild (plan: ReturnType<typeof planRebalance>, base: ClusterMap | undefined, baseHash: string | null, ringSetIds: number[], bootstrap: boolean, now: number): void {
    const id = this.nextBuildId++
    const epoch = (base?.epoch ?? 0) + 1
    const changed = new Set(plan.ringsChanged)
    const rings = Object.values(plan.rings).map(rp => ({
      name: rp.name,
      params: rp.params,
      devices: rp.devices,
      ...(base?.rings[rp.name] !== undefined ? { previousBuilderCid: base.rings[rp.name].builderCid } : {}),
      rebuild: changed.has(rp.name) || base?.rings[rp.name] === undefined
    }))
    const reasons = Object.values(plan.rings).flatMap(rp => rp.reasons.map(r => `${rp.name}: ${r}`))
    if (plan.membersChanged) reasons.push(`members: ${plan.members.length}`)
    for (const name of plan.ringsRemoved) reasons.push(`${name}: removed`)
    const request: BuildRequest = { id, epoch, ...(base !== undefined ? { base } : {}), baseHash, rings, members: plan.members, reasons, now, ringSetIds, plan }
    this.building = { id, baseHash, epoch, ringSetIds, bootstrap }
    this.out.build = request
    this.events.push({ type: 'build-started', id, epoch, reasons })
  }
}

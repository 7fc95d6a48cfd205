// The map service: the I/O shell around the pure EpochMachine. It feeds the machine
// membership changes, gossiped and synced maps and the results of its own work, and
// carries out what the machine asks for: rebalance and publish (coordinator), fetch
// blobs from the swarm, install rings and run the hook, pin and gc blobs, advertise
// epoch/readiness/holdings in the node's meta. It also serves blobs and ring-set
// requests, and answers the socket layer's queries.
import { peerIdFromString } from '@libp2p/peer-id'
import type { PeerId } from '@libp2p/interface'
import type { GossipSub } from '@libp2p/gossipsub'
import { decodeBuilderHead } from '../ring/index.js'
import { EpochMachine, validateRingDefinition, type MapVerdict } from '../protocol/map/epoch-machine.js'
import { EpochError, type BuildRequest, type EpochEvent, type EpochViewMember, type Readiness, type RingDevices } from '../protocol/map/epoch-types.js'
import { decodeMap, encodeMap, mapHash, type ClusterMap } from '../protocol/map/map.js'
import type { RingDefinition } from '../protocol/map/plan.js'
import type { BlobStore } from './blob-store.js'
import { installEpoch, readInstalled, resumeHook } from './installer.js'
import type { Logger } from './log.js'
import { BlobFetcher } from './map-blobs.js'
import { runBuild } from './map-build.js'
import { MapServiceError } from './map-errors.js'
import {
  decodeMapMessage, decodeMapPullRequest, decodeRingSetRequest, decodeRingSetResponse, encodeMapMessage, encodeMapPullRequest,
  encodeRingSetRequest, encodeRingSetResponse, MAP_PULL_PROTOCOL, MAP_TOPIC, MAX_MAP_MESSAGE_BYTES, RING_SET_PROTOCOL
} from './map-wire.js'
import { serveBlobs, type BlobServer, type BlobServerOptions, type BlobSource } from './net/blob-protocol.js'
import { HandlerError, ProtocolError } from './net/errors.js'
import { openGossipTopic, type GossipTopic } from './net/gossip-topic.js'
import { sendRequest, serveRequestResponse, type RequestResponseServer, type StreamNode } from './net/request-response.js'
import type { SwarmFetchOptions } from './net/swarm-fetch.js'

export { MapServiceError, type MapServiceErrorCode } from './map-errors.js'
export { MAP_TOPIC, RING_SET_PROTOCOL, MAP_PULL_PROTOCOL } from './map-wire.js'

/** What the map service needs from membership; the membership layer implements it. */
export interface MembershipPort {
  readonly selfId: string
  /** Every known member, self included, with decoded meta (undefined if missing or undecodable). */
  view: () => EpochViewMember[]
  /** Called after any change of the view; returns an unsubscribe function. */
  onChange: (cb: () => void) => () => void
  /** Makes membership gossip this node's new epoch, readiness and held blobs in its meta. */
  setLocalMeta: (update: { epoch: number, ready: boolean, holds: string[] }) => void
}

/** The parts of the libp2p node the service uses; a RingleaderNode fits. */
export interface MapNode extends StreamNode {
  services: { pubsub: GossipSub }
}

export type MapLogger = Pick<Logger, 'debug' | 'info' | 'warn' | 'error'>

export interface MapServiceOptions {
  node: MapNode
  membership: MembershipPort
  store: BlobStore
  dataDir: string
  ringDir: string
  hook?: { cmd: string, timeoutMs: number }
  log?: MapLogger
  /** Unix ms (default Date.now). */
  now?: () => number
  /** Quiet window before the coordinator rebalances (default 500 ms). */
  quietMs?: number
  /** Longest postponement by steady churn (default 10 × quietMs). */
  maxDelayMs?: number
  /** Devices of a dead member stay this long (default 10 min). */
  removeDeadAfterMs?: number
  /** Retry delay after a failed fetch or build (default 1 s). */
  retryMs?: number
  /** After a restart, ready once no newer epoch was heard of for this long (default 5 s). */
  syncGraceMs?: number
  /** Serve blobs from this source instead of the store (tests: a corrupting peer). */
  blobSource?: BlobSource
  /** Upload settings of the blob server: a bandwidth cap (operators) and upload slots. */
  serve?: Pick<BlobServerOptions, 'uploadLimiter' | 'maxUploadPeers'>
  /**
   * Where blobs are fetched from: `swarm` (default), any member that advertises them;
   * `coordinator`, only the map's coordinator (a star, for comparison in benchmarks).
   */
  fetchFrom?: 'swarm' | 'coordinator'
  fetchTuning?: Pick<SwarmFetchOptions, 'chunkBytes' | 'parallel' | 'perHolderParallel' | 'chunkTimeoutMs' | 'stallTimeoutMs'>
  /** Deadline for a forwarded ring set (default 60 s). */
  ringSetTimeoutMs?: number
  /** Randomness for holder choice (default Math.random); tests pin it. */
  random?: () => number
}

export interface MapStatus {
  state: Readiness['state']
  /** Epoch installed here. */
  epoch: number
  newestSeen: number
  mapHash?: string
  coordinator?: string
  /** Installed epoch → how many alive members report it (the cluster's sync status). */
  membersByEpoch: Record<string, number>
  buildInFlight: boolean
  /** The greatest map this node holds, when it is not yet installed: its blobs are being fetched or installed. */
  pending?: { epoch: number, hash: string, blobs: number, verified: number, sinceMs: number }
}

export interface MapRingInfo { name: string, cid: string, builderCid: string, size?: number, partPower: number, replicas: number, minPartHours: number, overload: number }

export interface MapInfo {
  epoch: number
  hash: string
  coordinator: string
  prev: string | null
  createdAt?: number
  members: number
  rings: MapRingInfo[]
  /** Epochs whose blobs are pinned in the store. */
  retainedEpochs: number[]
}

interface Waiter<T> { resolve: (v: T) => void, reject: (e: Error) => void, timer?: NodeJS.Timeout }

export class MapService {
  readonly selfId: string
  private readonly machine: EpochMachine
  private readonly fetcher: BlobFetcher
  private readonly now: () => number
  private readonly log: MapLogger | undefined
  private topic: GossipTopic | undefined
  private blobServer: BlobServer | undefined
  private ringSetServer: RequestResponseServer | undefined
  private mapPullServer: RequestResponseServer | undefined
  private pulling = false
  private pullTimer: NodeJS.Timeout | undefined
  private lastPullAt = Number.NEGATIVE_INFINITY
  private viewCache: { at: number, view: EpochViewMember[] } | undefined
  private unsubscribe: (() => void) | undefined
  private timer: NodeJS.Timeout | undefined
  private timerAt: number | undefined
  private stopped = false
  /** Blobs of builds and fetches in progress: gc must not take them before they are pinned. */
  private readonly protect = new Set<string>()
  /**
   * The map whose blobs are being fetched, since when, and which of its blobs are
   * verified and in the store (advertised in meta at once).
   */
  private fetching: { hash: string, since: number, verified: Set<string> } | undefined
  private installChain: Promise<void> = Promise.resolve()
  private lastMeta = ''
  private readonly ringSetWaiters = new Map<number, Waiter<number>>()
  private bootstrapWaiter: Waiter<number> | undefined
  private readyWaiters = new Set<{ epoch: number, w: Waiter<Readiness> }>()
  private readonly peerIds = new Map<string, PeerId>()

  private constructor (private readonly opts: MapServiceOptions) {
    this.selfId = opts.membership.selfId
    this.now = opts.now ?? Date.now
    this.log = opts.log
    const quietMs = opts.quietMs ?? 500
    this.machine = new EpochMachine({
      selfId: this.selfId,
      quietMs,
      maxDelayMs: opts.maxDelayMs ?? 10 * quietMs,
      removeDeadAfterMs: opts.removeDeadAfterMs ?? 600_000,
      retryMs: opts.retryMs ?? 1000,
      syncGraceMs: opts.syncGraceMs ?? 5000
    })
    this.fetcher = new BlobFetcher({
      node: opts.node,
      selfId: this.selfId,
      store: opts.store,
      holdersOf: cid => this.holdersOf(cid),
      now: this.now,
      ...(opts.random !== undefined ? { random: opts.random } : {}),
      ...(opts.fetchTuning !== undefined ? { tuning: opts.fetchTuning } : {}),
      log: (msg, fields) => this.log?.warn(msg, fields)
    })
  }

  /**
   * Starts the service: restores the installed map from disk (served at once, marked
   * syncing), serves blobs and ring-set requests, joins the map topic.
   */
  static async start (opts: MapServiceOptions): Promise<MapService> {
    const svc = new MapService(opts)
    await svc.restore()
    svc.blobServer = await serveBlobs(opts.node, opts.blobSource ?? opts.store, opts.serve ?? {})
    svc.ringSetServer = await serveRequestResponse(opts.node, RING_SET_PROTOCOL, async (req, from) => await svc.handleRingSet(req, from), { timeoutMs: opts.ringSetTimeoutMs ?? 60_000, maxRequestBytes: 1024 })
    svc.mapPullServer = await serveRequestResponse(opts.node, MAP_PULL_PROTOCOL, async (req, from) => await svc.handleMapPull(req, from), { timeoutMs: 10_000, maxRequestBytes: 64 })
    svc.topic = openGossipTopic(opts.node.services.pubsub, MAP_TOPIC, {
      maxMessageBytes: MAX_MAP_MESSAGE_BYTES,
      validate: (bytes, from) => svc.validateGossip(bytes, from),
      onError: (err, where) => svc.log?.warn('map gossip error', { where, err: String(err) })
    })
    svc.topic.onMessage((bytes, from) => { svc.receive(bytes, from.toString(), 'gossip') })
    svc.unsubscribe = opts.membership.onChange(() => { svc.onMembershipChange() })
    svc.onMembershipChange()
    return svc
  }

  async stop (): Promise<void> {
    if (this.stopped) return
    this.stopped = true
    if (this.timer !== undefined) clearTimeout(this.timer)
    if (this.pullTimer !== undefined) clearTimeout(this.pullTimer)
    this.unsubscribe?.()
    this.topic?.close()
    await this.blobServer?.stop().catch(() => {})
    await this.ringSetServer?.stop().catch(() => {})
    await this.mapPullServer?.stop().catch(() => {})
    const stopped = new MapServiceError('STOPPED', 'map service stopped')
    for (const w of this.ringSetWaiters.values()) this.settle(w, stopped)
    this.ringSetWaiters.clear()
    if (this.bootstrapWaiter !== undefined) this.settle(this.bootstrapWaiter, stopped)
    for (const r of this.readyWaiters) this.settle(r.w, stopped)
    this.readyWaiters.clear()
    await this.installChain.catch(() => {})
  }

  // ---- queries for the socket layer -----------------------------------------

  readiness (): Readiness { return this.machine.readiness() }

  /** Counters of the map topic (accepted, rejected, ignored, …) and its subscriber count. */
  gossipStats (): { accepted: number, rejected: number, ignored: number, published: number, subscribers: number } {
    const s = this.topic?.stats
    return { accepted: s?.accepted ?? 0, rejected: s?.rejected ?? 0, ignored: s?.ignored ?? 0, published: s?.published ?? 0, subscribers: this.topic?.subscribers().length ?? 0 }
  }

  /** Holders this node stopped fetching from after they served corrupt bytes. */
  shunnedHolders (): string[] { return this.fetcher.shunned() }

  status (): MapStatus {
    const r = this.machine.readiness()
    const membersByEpoch: Record<string, number> = {}
    for (const m of this.opts.membership.view()) {
      if (m.status !== 'alive') continue
      const epoch = m.id === this.selfId ? r.epoch : (m.meta?.epoch ?? 0)
      membersByEpoch[String(epoch)] = (membersByEpoch[String(epoch)] ?? 0) + 1
    }
    const hash = this.machine.installed().hash
    const coordinator = this.machine.coordinator()?.id
    return {
      state: r.state,
      epoch: r.epoch,
      newestSeen: r.newestSeen,
      ...(hash !== undefined ? { mapHash: hash } : {}),
      ...(coordinator !== undefined ? { coordinator } : {}),
      membersByEpoch,
      buildInFlight: this.machine.buildInFlight(),
      ...(this.pendingStatus() ?? {})
    }
  }

  /** What a node that is behind is waiting for (shows in `status`: the first thing to look at when a node lags). */
  private pendingStatus (): { pending: NonNullable<MapStatus['pending']> } | undefined {
    const current = this.machine.currentMap()
    const hash = this.machine.currentMapHash()
    if (current === undefined || hash === undefined || hash === this.machine.installed().hash) return undefined
    const f = this.fetching?.hash === hash ? this.fetching : undefined
    const sinceMs = f === undefined ? 0 : Math.max(0, this.now() - f.since)
    return { pending: { epoch: current.epoch, hash, blobs: mapBlobs(current, hash).length, verified: f?.verified.size ?? 0, sinceMs } }
  }

  /** The installed map, or undefined before the first install. */
  map (): MapInfo | undefined {
    const hash = this.machine.installed().hash
    const map = hash === undefined ? undefined : this.machine.knownMap(hash)
    if (map === undefined || hash === undefined) return undefined
    return {
      epoch: map.epoch,
      hash,
      coordinator: map.coordinator,
      prev: map.prev,
      ...(map.createdAt !== undefined ? { createdAt: map.createdAt } : {}),
      members: map.members.length,
      rings: Object.entries(map.rings).map(([name, e]) => ({ name, ...e })),
      retainedEpochs: this.opts.store.retainedEpochs()
    }
  }

  /** The installed `<name>.ring.gz` bytes (verified by the store), or undefined if no such ring. */
  async ringBytes (name: string): Promise<Uint8Array | undefined> {
    const hash = this.machine.installed().hash
    const entry = hash === undefined ? undefined : this.machine.knownMap(hash)?.rings[name]
    return entry === undefined ? undefined : await this.opts.store.get(entry.cid)
  }

  /** Canonical bytes of the greatest map known, for the push-pull sync to carry. */
  newestMapForSync (): Uint8Array | undefined {
    const map = this.machine.currentMap()
    return map === undefined ? undefined : encodeMap(map)
  }

  /**
   * A map carried by a push-pull sync from member `from`. The sync is not signed by
   * the map's coordinator; the authenticated relaying member vouches for it, and it
   * must still name a known coordinator and chain onto a map we know.
   */
  onSyncedMap (bytes: Uint8Array, from: string): MapVerdict {
    if (!this.opts.membership.view().some(m => m.id === from)) return 'ignore'
    let map: ClusterMap
    try { map = decodeMap(bytes) } catch { return 'reject' }
    return this.handleCandidate(map, map.coordinator)
  }

  /** Operator override after force-leave: the next epoch may be published without a majority. */
  force (): void {
    this.machine.setForce(this.now())
    this.pump()
  }

  /** Makes epoch 1. Throws EpochError('BOOTSTRAP_REFUSED') when the cluster already has a map. */
  async bootstrap (defs: readonly RingDefinition[], timeoutMs = 120_000): Promise<{ epoch: number }> {
    this.machine.onMembership(this.opts.membership.view(), this.now())
    this.machine.bootstrap(defs, this.now())
    const epoch = await new Promise<number>((resolve, reject) => {
      this.bootstrapWaiter = { resolve, reject, timer: this.deadline(timeoutMs, reject, 'bootstrap') }
      this.pump()
    })
    return { epoch }
  }

  /** `ring set` from any node: forwarded to the coordinator; resolves with the epoch that carries it. */
  async ringSet (input: RingDefinition): Promise<{ epoch: number }> {
    const def = validateRingDefinition(input)
    const timeoutMs = this.opts.ringSetTimeoutMs ?? 60_000
    const coordinator = this.machine.coordinator()?.id
    if (coordinator === undefined) throw new MapServiceError('NO_COORDINATOR', 'no coordinator is known yet')
    if (coordinator === this.selfId) return { epoch: await this.ringSetLocal(def, timeoutMs) }
    try {
      const answer = await sendRequest(this.opts.node, this.peer(coordinator), RING_SET_PROTOCOL, encodeRingSetRequest(def), { timeoutMs, maxRequestBytes: 1024 })
      return { epoch: decodeRingSetResponse(answer) }
    } catch (err) {
      if (err instanceof ProtocolError && err.code === 'remote-error') throw new MapServiceError('RING_SET_REFUSED', `coordinator ${coordinator} refused: ${err.message}`)
      throw new MapServiceError('RING_SET_FAILED', `forwarding to coordinator ${coordinator} failed: ${err instanceof Error ? err.message : String(err)}`)
    }
  }

  /**
   * Resolves once ready (and at `epoch` or later, if given); rejects with
   * MapServiceError('TIMEOUT'), or at once when `signal` aborts (the client left).
   */
  async waitReady (opts: { epoch?: number, timeoutMs: number, signal?: AbortSignal }): Promise<Readiness> {
    const epoch = opts.epoch ?? 0
    const now = this.machine.readiness()
    if (now.state === 'ready' && now.epoch >= epoch) return now
    return await new Promise<Readiness>((resolve, reject) => {
      const entry = { epoch, w: { resolve, reject } as Waiter<Readiness> }
      const drop = (e: Error): void => { this.readyWaiters.delete(entry); if (entry.w.timer !== undefined) clearTimeout(entry.w.timer); reject(e) }
      entry.w.timer = this.deadline(opts.timeoutMs, drop, `ready${opts.epoch !== undefined ? ` at epoch ${epoch}` : ''}`)
      opts.signal?.addEventListener('abort', () => { drop(new MapServiceError('STOPPED', 'the waiting client left')) }, { once: true })
      this.readyWaiters.add(entry)
    })
  }

  // ---- the loop ---------------------------------------------------------------

  private onMembershipChange (): void {
    if (this.stopped) return
    this.machine.onMembership(this.opts.membership.view(), this.now())
    this.machine.tick(this.now())
    this.pump()
  }

  /** Acts on everything the machine has asked for; re-arms the deadline timer. */
  private pump (): void {
    if (this.stopped) return
    for (let round = 0; round < 8; round++) {
      const r = this.machine.ready()
      for (const e of r.events) this.onEvent(e)
      if (r.build !== undefined) this.startBuild(r.build)
      if (r.publish !== undefined) this.publish(r.publish)
      if (r.catchUp !== undefined) this.catchUp(r.catchUp.missing, r.catchUp.from)
      if (r.fetch !== undefined) this.fetchBlobs(r.fetch.map, r.fetch.hash, r.fetch.cids)
      if (r.install !== undefined) this.install(r.install.map, r.install.hash)
      this.updateMeta(r.readiness)
      this.settleReadyWaiters(r.readiness)
      if (r.events.length === 0) break
    }
    this.maybePull()
    this.arm()
  }

  /**
   * Members advertise a newer epoch than the greatest map we hold: we missed its
   * gossip (or restarted). Ask one of them for its newest map, at most once per
   * retry interval; the answer goes through the same checks as a synced map.
   */
  private maybePull (): void {
    const r = this.machine.readiness()
    const have = this.machine.currentMap()?.epoch ?? 0
    const retryMs = this.opts.retryMs ?? 1000
    if (this.pulling || r.newestSeen <= have) return
    const ahead = this.opts.membership.view().filter(m => m.id !== this.selfId && m.status === 'alive' && (m.meta?.epoch ?? 0) > have)
    if (ahead.length === 0) return
    const wait = this.lastPullAt + retryMs - this.now()
    if (wait > 0) {
      // Throttled: come back when allowed. Nothing else may wake us (no gossip of this
      // map is coming: that is why we are behind), so this timer must exist.
      if (this.pullTimer === undefined) {
        this.pullTimer = setTimeout(() => { this.pullTimer = undefined; if (!this.stopped) this.pump() }, wait + 1)
        this.pullTimer.unref()
      }
      return
    }
    const from = ahead[Math.floor((this.opts.random ?? Math.random)() * ahead.length) % ahead.length].id
    this.pulling = true
    this.lastPullAt = this.now()
    sendRequest(this.opts.node, this.peer(from), MAP_PULL_PROTOCOL, encodeMapPullRequest(), { timeoutMs: 10_000, maxResponseBytes: MAX_MAP_MESSAGE_BYTES })
      .then(bytes => { this.onSyncedMap(bytes, from) })
      .catch((err: unknown) => { this.log?.debug('map pull failed', { from, err: String(err) }) })
      .finally(() => {
        this.pulling = false
        // Come back after the retry interval if still behind.
        setTimeout(() => { if (!this.stopped) this.pump() }, retryMs + 1).unref()
      })
  }

  private async handleMapPull (request: Uint8Array, from: PeerId): Promise<Uint8Array> {
    try { decodeMapPullRequest(request) } catch (err) { throw new HandlerError('bad-request', err instanceof Error ? err.message : String(err)) }
    // Any peer may read the map (a joining node is not a member yet); the network key guards who can connect.
    void from
    const bytes = this.newestMapForSync()
    if (bytes === undefined) throw new HandlerError('no-map', 'this node holds no map')
    return bytes
  }

  private arm (): void {
    const at = this.machine.nextDeadline()
    if (at === this.timerAt && this.timer !== undefined) return
    if (this.timer !== undefined) clearTimeout(this.timer)
    this.timer = undefined
    this.timerAt = at
    if (at === undefined) return
    this.timer = setTimeout(() => {
      this.timer = undefined
      this.timerAt = undefined
      if (this.stopped) return
      this.machine.tick(this.now())
      this.pump()
    }, Math.max(0, at - this.now()) + 1)
    this.timer.unref()
  }

  private onEvent (e: EpochEvent): void {
    switch (e.type) {
      case 'published':
        this.log?.info('published epoch', { epoch: e.epoch, hash: e.hash })
        if (this.bootstrapWaiter !== undefined) { this.settle(this.bootstrapWaiter, undefined, e.epoch); this.bootstrapWaiter = undefined }
        break
      case 'build-failed':
        this.log?.warn('build failed', { error: e.error })
        break
      case 'bootstrap-failed':
        if (this.bootstrapWaiter !== undefined) { this.settle(this.bootstrapWaiter, new MapServiceError('BOOTSTRAP_FAILED', e.error)); this.bootstrapWaiter = undefined }
        break
      case 'ring-set-done': {
        const w = this.ringSetWaiters.get(e.requestId)
        if (w !== undefined) { this.ringSetWaiters.delete(e.requestId); this.settle(w, undefined, e.epoch) }
        break
      }
      case 'ring-set-failed': {
        const w = this.ringSetWaiters.get(e.requestId)
        if (w !== undefined) { this.ringSetWaiters.delete(e.requestId); this.settle(w, new MapServiceError('RING_SET_REFUSED', e.error)) }
        break
      }
      case 'map-accepted': this.log?.info('map accepted', { epoch: e.epoch, coordinator: e.coordinator }); break
      case 'installed': this.log?.info('epoch installed', { epoch: e.epoch }); break
      case 'readiness': this.log?.info('readiness', { state: e.state, epoch: e.epoch }); break
      case 'gate-closed': this.log?.warn('no majority of the previous members alive; not publishing', { alive: e.alive, of: e.of }); break
      default: this.log?.debug(`map ${e.type}`, { ...e })
    }
  }

  private settle<T> (w: Waiter<T>, err: Error | undefined, value?: T): void {
    if (w.timer !== undefined) clearTimeout(w.timer)
    if (err !== undefined) w.reject(err)
    else w.resolve(value as T)
  }

  private deadline (ms: number, reject: (e: Error) => void, what: string): NodeJS.Timeout {
    const t = setTimeout(() => { reject(new MapServiceError('TIMEOUT', `timed out after ${ms} ms waiting for ${what}`)) }, ms)
    return t
  }

  private settleReadyWaiters (r: Readiness): void {
    if (r.state !== 'ready') return
    for (const entry of [...this.readyWaiters]) {
      if (r.epoch >= entry.epoch) { this.readyWaiters.delete(entry); this.settle(entry.w, undefined, r) }
    }
  }

  private updateMeta (r: Readiness): void {
    const hash = this.machine.installed().hash
    const map = hash === undefined ? undefined : this.machine.knownMap(hash)
    const holds = map !== undefined && hash !== undefined ? mapBlobs(map, hash) : []
    // Blobs of the map being fetched, each advertised as soon as it is verified: a
    // swarm needs early finishers to serve, not only nodes that installed everything.
    for (const cid of this.fetching?.verified ?? []) if (!holds.includes(cid)) holds.push(cid)
    const meta = { epoch: r.epoch, ready: r.state === 'ready', holds: holds.slice(0, 64) }
    const key = JSON.stringify(meta)
    if (key === this.lastMeta) return
    this.lastMeta = key
    try { this.opts.membership.setLocalMeta(meta) } catch (err) { this.log?.warn('could not update local meta', { err: String(err) }) }
  }

  // ---- maps in ------------------------------------------------------------------

  private validateGossip (bytes: Uint8Array, from: PeerId): 'accept' | 'reject' | 'ignore' {
    let map: ClusterMap
    try { map = decodeMapMessage(bytes).map } catch { return 'reject' }
    return this.machine.judge(map, from.toString())
  }

  private receive (bytes: Uint8Array, signer: string, via: string): void {
    let map: ClusterMap
    try { map = decodeMapMessage(bytes).map } catch (err) { this.log?.debug('bad map message', { via, err: String(err) }); return }
    this.handleCandidate(map, signer)
  }

  private handleCandidate (map: ClusterMap, signer: string): MapVerdict {
    if (this.stopped) return 'ignore'
    const verdict = this.machine.onMapCandidate(map, signer, this.now())
    this.pump()
    return verdict
  }

  private catchUp (missing: string, from: string): void {
    this.fetcher.fetch(missing, undefined, [from])
      .then(async () => {
        const map = decodeMap(await this.opts.store.get(missing))
        if (mapHash(map) !== missing) throw new MapServiceError('CATCH_UP_FAILED', `map blob ${missing} does not hash to its name`)
        this.machine.onMapFetched(map, this.now())
      })
      .catch((err: unknown) => {
        this.log?.warn('catch-up failed; adopting the newer map on its signature', { missing, err: String(err) })
        this.machine.onCatchUpFailed(missing, this.now())
      })
      .finally(() => { this.pump() })
  }

  // ---- work ------------------------------------------------------------------------

  private startBuild (req: BuildRequest): void {
    this.log?.info('building epoch', { epoch: req.epoch, reasons: req.reasons.slice(0, 20) })
    const started = performance.now()
    // Let the loop turn once, so the build never runs inside a gossip callback.
    setImmediate(() => {
      runBuild(req, this.selfId, this.opts.store)
        .then(({ outcome, cids }) => {
          for (const c of cids) this.protect.add(c)
          this.log?.debug('build done', { epoch: req.epoch, ok: outcome.ok, ms: Math.round(performance.now() - started) })
          this.machine.onBuildDone(req.id, outcome, this.now())
        })
        .catch((err: unknown) => { this.machine.onBuildDone(req.id, { ok: false, error: String(err) }, this.now()) })
        .finally(() => { this.pump() })
    })
  }

  private publish (map: ClusterMap): void {
    const topic = this.topic
    if (topic === undefined) return
    topic.publish(encodeMapMessage(encodeMap(map))).catch((err: unknown) => {
      // The map still spreads through the push-pull sync.
      this.log?.warn('publishing the map failed', { epoch: map.epoch, err: String(err) })
    })
  }

  private fetchBlobs (map: ClusterMap, hash: string, cids: string[]): void {
    for (const c of [hash, ...cids]) this.protect.add(c)
    const hints = [map.coordinator]
    const sizes = new Map<string, number>()
    for (const e of Object.values(map.rings)) if (e.size !== undefined) sizes.set(e.cid, e.size)
    // Only the newest map's blobs are advertised before install; a retry counts them again.
    const fetching = { hash, since: this.fetching?.hash === hash ? this.fetching.since : this.now(), verified: new Set<string>() }
    this.fetching = fetching
    const advertise = (cid: string): void => {
      if (this.stopped || this.machine.currentMapHash() !== hash) return
      fetching.verified.add(cid)
      this.updateMeta(this.machine.readiness())
    }
    const work = async (): Promise<void> => {
      await this.opts.store.put(encodeMap(map), hash)
      advertise(hash)
      await Promise.all(cids.map(async cid => { await this.fetcher.fetch(cid, sizes.get(cid), hints); advertise(cid) }))
    }
    work()
      .then(() => { this.machine.onBlobsFetched(hash, this.now()) })
      .catch((err: unknown) => {
        this.log?.warn('fetching the blobs of a map failed; will retry', { epoch: map.epoch, err: String(err) })
        this.machine.onFetchFailed(hash, this.now())
      })
      .finally(() => { this.pump() })
  }

  private install (map: ClusterMap, hash: string): void {
    this.installChain = this.installChain.then(async () => {
      if (this.stopped) return
      const store = this.opts.store
      const rings = await Promise.all(Object.entries(map.rings).map(async ([name, e]) => ({ name, bytes: await store.get(e.cid) })))
      const devices = await ringDevices(map, store)
      await store.retain(map.epoch, mapBlobs(map, hash))
      const result = await installEpoch({ dataDir: this.opts.dataDir, ringDir: this.opts.ringDir, epoch: map.epoch, mapHash: hash, rings, now: this.now(), ...(this.opts.hook !== undefined ? { hook: this.opts.hook } : {}) })
      if (result.hook !== undefined) {
        const h = result.hook
        const fields = { epoch: map.epoch, ...h }
        if (h.ok) this.log?.info('hook ran', fields)
        else this.log?.warn('hook failed', fields)
      }
      this.machine.onBlobsInstalled(hash, this.now(), devices)
      await this.gc()
    }).catch((err: unknown) => {
      this.log?.error('installing a map failed; will retry', { epoch: map.epoch, err: String(err) })
      this.machine.onFetchFailed(hash, this.now())
    }).finally(() => { this.pump() })
  }

  private async gc (): Promise<void> {
    const keep = new Set<string>()
    const current = this.machine.currentMap()
    const currentHash = this.machine.currentMapHash()
    if (current !== undefined && currentHash !== undefined) for (const c of mapBlobs(current, currentHash)) keep.add(c)
    // Only blobs still in flight stay protected; pinned ones are kept by their pins.
    const pinned = this.opts.store.pinned()
    for (const c of [...this.protect]) if (pinned.has(c) && !keep.has(c)) this.protect.delete(c)
    for (const c of this.protect) keep.add(c)
    try {
      const report = await this.opts.store.gc(keep)
      if (report.removedBlobs.length > 0) this.log?.debug('gc removed blobs', { count: report.removedBlobs.length })
    } catch (err) {
      this.log?.warn('blob gc failed', { err: String(err) })
    }
  }

  private async restore (): Promise<void> {
    const rec = await readInstalled(this.opts.dataDir).catch((err: unknown) => { this.log?.warn('installed.json unreadable; starting without a map', { err: String(err) }); return undefined })
    if (rec?.hookPending !== undefined) {
      // The last hook never finished (a crash while it ran): run it again, ahead of any new install.
      this.installChain = this.installChain.then(async () => {
        const h = await resumeHook({ dataDir: this.opts.dataDir, ringDir: this.opts.ringDir, ...(this.opts.hook !== undefined ? { hook: this.opts.hook } : {}) })
        if (h !== undefined) this.log?.[h.ok ? 'info' : 'warn']('hook re-run after an interrupted install', { epoch: rec.epoch, ...h })
      }).catch((err: unknown) => { this.log?.warn('re-running the interrupted hook failed', { err: String(err) }) })
    }
    if (rec?.mapHash === undefined) return
    try {
      const map = decodeMap(await this.opts.store.get(rec.mapHash))
      if (mapHash(map) !== rec.mapHash || map.epoch !== rec.epoch) throw new Error('map blob does not match installed.json')
      const devices = await ringDevices(map, this.opts.store)
      this.machine.restore(map, devices, this.now())
      this.log?.info('serving the installed map from disk; syncing', { epoch: map.epoch })
    } catch (err) {
      this.log?.warn('could not restore the installed map; syncing from peers', { epoch: rec.epoch, err: String(err) })
    }
  }

  // ---- ring set ---------------------------------------------------------------------

  private async ringSetLocal (def: RingDefinition, timeoutMs: number): Promise<number> {
    let id: number
    try {
      id = this.machine.requestRingSet(def, this.now())
    } catch (err) {
      if (err instanceof EpochError) throw new MapServiceError('RING_SET_REFUSED', err.message)
      throw err
    }
    return await new Promise<number>((resolve, reject) => {
      const w: Waiter<number> = { resolve, reject }
      w.timer = this.deadline(timeoutMs, (e) => { this.ringSetWaiters.delete(id); reject(e) }, `ring set ${def.name}`)
      this.ringSetWaiters.set(id, w)
      this.machine.tick(this.now())
      this.pump()
    })
  }

  private async handleRingSet (request: Uint8Array, from: PeerId): Promise<Uint8Array> {
    let def: RingDefinition
    try { def = decodeRingSetRequest(request) } catch (err) { throw new HandlerError('bad-request', err instanceof Error ? err.message : String(err)) }
    if (!this.opts.membership.view().some(m => m.id === from.toString())) throw new HandlerError('not-member', 'ring set from a non-member')
    // Forwarded requests are never forwarded again: no loops while views disagree.
    if (!this.machine.isCoordinator()) throw new HandlerError('not-coordinator', `this node is not the coordinator (${this.machine.coordinator()?.id ?? 'none'} is)`)
    try {
      return encodeRingSetResponse(await this.ringSetLocal(def, (this.opts.ringSetTimeoutMs ?? 60_000) - 1000))
    } catch (err) {
      throw new HandlerError('refused', err instanceof Error ? err.message : String(err))
    }
  }

  // ---- holders -------------------------------------------------------------------------

  private holdersOf (cid: string): string[] {
    if (this.opts.fetchFrom === 'coordinator') return [] // the map's coordinator comes as a hint
    // swarmFetch asks per chunk; a view copy per call would cost O(N) each time.
    const t = this.now()
    if (this.viewCache === undefined || t - this.viewCache.at > 200) this.viewCache = { at: t, view: this.opts.membership.view() }
    const out: string[] = []
    for (const m of this.viewCache.view) {
      if (m.id !== this.selfId && (m.status === 'alive' || m.status === 'suspect') && m.meta?.holds?.includes(cid) === true) out.push(m.id)
    }
    return out
  }

  private peer (id: string): PeerId {
    let p = this.peerIds.get(id)
    if (p === undefined) { p = peerIdFromString(id); this.peerIds.set(id, p) }
    return p
  }
}

/** A map's blobs: the map itself, then each ring's ring.gz and builder state, by ring name. */
function mapBlobs (map: ClusterMap, hash: string): string[] {
  const out = [hash]
  for (const name of Object.keys(map.rings).sort()) out.push(map.rings[name].cid, map.rings[name].builderCid)
  return out
}

/** Each ring's device slots, from its builder state (the rows, in the ring, are not needed). */
async function ringDevices (map: ClusterMap, store: BlobStore): Promise<RingDevices> {
  const devices: RingDevices = {}
  for (const [name, e] of Object.entries(map.rings)) devices[name] = decodeBuilderHead(await store.get(e.builderCid)).devs
  return devices
}

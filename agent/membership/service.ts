// The membership component: runs the pure core (protocol/membership) against the
// real network. After every input it drains ready() in order — persist the
// incarnation, then publish/send, then events — and keeps one timer at
// nextDeadline(). It also keeps a random sample of members connected (so the
// gossipsub mesh forms), joins the configured seeds, and offers the map service
// its MembershipPort.
import type { Connection, PeerId } from '@libp2p/interface'
import {
  planDurability, IncarnationReserve, createMembership, MembershipError, type GossipMessage, type MemberEntry, type MemberEvent,
  MAX_ADDRS, type MembershipConfig, type Membership, type MembershipMessage, type Outgoing
} from '../../protocol/membership/index.js'
import type { MembershipChannel } from '../../protocol/wire/index.js'
import { decodeNodeMeta, type NodeMeta } from '../../protocol/node-meta.js'
import type { EpochViewMember } from '../../protocol/map/epoch-types.js'
import type { Component, DaemonContext } from '../daemon.js'
import type { MembershipPort } from '../map-service.js'
import type { Logger } from '../log.js'
import type { RingleaderNode } from '../net/create-node.js'
import { parseJoinAddress, dialSeed, backoffDelay, seedOrder } from '../net/join-address.js'
import { dialDirections, JoinWave, PeerSampler, RecentMembers } from '../net/peer-sampler.js'
import { JoinAddressError } from '../net/errors.js'
import { incarnationStore, type IncarnationStore } from './incarnation-store.js'
import { applyDeviceOp, encodeMetaFitting, encodeMetaOrThrow, metaFromConfig, type DeviceOp } from './meta.js'
import { startTransport, type MembershipTransport } from './transport.js'
import { advertisedUdpAddrs, datagramBinds, datagramsSilent, dialableAddrs, type DatagramCounts } from './probe-datagrams.js'
import { openDatagramChannel, type DatagramChannel } from '../net/datagram-channel.js'
import { registerMembershipCommands } from './commands.js'
import { setTimeoutAfterIo, type IoFirstTimer } from '../io-first-timer.js'

export interface MembershipServiceOptions {
  /** Core tunables (defaults: protocol/membership/config.ts). */
  core?: Partial<MembershipConfig>
  /** Connections the peer sampler keeps (default 6..10) and how often it looks (default 500 ms). */
  sampling?: { min?: number, max?: number, tickMs?: number }
  /** Probe over signed UDP datagrams where members advertise a UDP address (default true; probe-datagrams.ts). */
  datagrams?: boolean
  /** Called once `leave` has spread; default: SIGTERM to this process, so the agent stops and exits 0. */
  onLeft?: () => void
  /** Unix ms (default Date.now). */
  now?: () => number
  random?: () => number
}

export class MembershipServiceError extends Error {
  constructor (readonly code: 'not-started' | 'join-failed' | 'self' | 'left' | 'invalid-argument', message: string) {
    super(message)
    this.name = 'MembershipServiceError'
  }
}

/** One event as `agent monitor` prints it. */
export interface MonitorEvent {
  kind: MemberEvent['kind']
  id: string
  status: MemberEntry['status']
  incarnation: number
  previous?: MemberEntry['status']
  at: string
}

const LEAVE_SPREAD_MS = 300
/** How often the agent checks that probe datagrams arrive at all (watchDatagrams). */
const DATAGRAM_WATCH_MS = 30_000
/** How often the peer sampler swaps one connection for a fresh member. */
const SAMPLE_ROTATE_MS = 30_000
const LEAVE_MAX_WAIT_MS = 2000
// A seed taking many joins at once answers late but does answer, and the core merges
// that late answer anyway: failing the command at 5 s reported joins that then
// happened (a 50-agent herd on two cores: most failures were this). memberlist gives a
// push-pull 10 s; this is the wait after the seed accepted our connection, within the
// CLI's 60 s (dial attempts take at most 35 s, JOIN_DIAL_BUDGET_MS). The join's
// push-pull request itself gets as long: under the 5 s of other push-pulls, a seed
// that answered in 6 s still failed the join.
const JOIN_REPLY_TIMEOUT_MS = 20_000
/**
 * A join wave (JoinWave): joins less than 2 s apart, for at most 20 s; meanwhile
 * the sampler dials nothing (a joiner keeps its seed's connection only), then one
 * more connection every ~2 s (jittered per node). With two connections held, the
 * joiners' own handshakes and the push-pulls and mesh relays over them were half of
 * a 50-agent herd's CPU: 6.5–7.5 s against ~4 s with none (docs/benchmarks.md §
 * N = 50, "The star during the wave").
 */
const JOIN_WAVE = { quietMs: 2000, maxMs: 20_000, hold: 0, rampMs: 2000 }
/** Probe patience while a join wave settles: intervals and timeouts × 2 (Membership.probePatience). */
const WAVE_PROBE_PATIENCE = 1
/**
 * Patience lasts until the ramp allows this many connections, ~4–6.5 s after the
 * wave: when it ended together with the wave, every node's first dials, its
 * wave-end push-pull and its probes at full rate came in the same seconds, and
 * live members were suspected by most of the cluster and some declared failed.
 */
const PATIENCE_UNTIL_CONNECTIONS = 3
/** How long a member just learned is left undialled by the sampler (at most half of probeGraceAfterAlive; RecentMembers). */
const SAMPLE_HOLD_OFF_MS = 400
// `agent join` keeps dialling a seed for up to 35 s (then up to 20 s for its answer:
// 55 s, inside the CLI's 60). Three attempts used to be all, and in a 50-agent herd
// on two cores those that lost them never joined; a seed that refuses connections
// it has no room for (see maxIncomingPendingConnections) fails them fast, so the
// further attempts are cheap for both sides. An address where nothing listens still
// fails after three attempts.
const JOIN_DIAL_RETRIES = 10
const JOIN_DIAL_BUDGET_MS = 35_000
/** How long a push-pull request waits for the reply to send it in-band (it is normally ready at once). */
const IN_BAND_REPLY_WAIT_MS = 1000

function inBandKey (peer: string, seq: number): string { return `${peer}#${seq}` }

const defaultRandom = Math.random

export class MembershipService implements Component, MembershipPort {
  readonly name = 'membership'
  private core: Membership | undefined
  private node: RingleaderNode | undefined
  private log: Logger | undefined
  private transport: MembershipTransport | undefined
  private datagrams: DatagramChannel | undefined
  /** The datagram counters at the last look, and whether datagrams have stopped arriving (see watchDatagrams). */
  private datagramWatch: { counts: DatagramCounts, silent: boolean } = { counts: { sent: 0, received: 0 }, silent: false }
  private datagramWatchTimer: NodeJS.Timeout | undefined
  private store: IncarnationStore | undefined
  private sampler: PeerSampler | undefined
  private samplerTimer: NodeJS.Timeout | undefined
  private timer: IoFirstTimer | undefined
  private timerAt = Infinity
  /** Saves of our incarnation's ceiling, in order; messages above the durable ceiling wait behind them. */
  private persisting: Promise<void> = Promise.resolve()
  /** Which incarnations may be announced before the next save (protocol/membership/incarnation-reserve.ts). */
  private readonly reserve = new IncarnationReserve()
  private lastPublishes: Array<Promise<number>> = []
  private meta: NodeMeta | undefined
  private readonly since = new Map<string, number>()
  private readonly metaCache = new WeakMap<Uint8Array, NodeMeta | null>()
  private readonly changeListeners = new Set<() => void>()
  private readonly eventListeners = new Set<(e: MonitorEvent) => void>()
  private readonly forceLeaveListeners = new Set<(id: string) => void>()
  private readonly joinWaiters = new Map<string, Set<{ resolve: () => void, reject: (err: Error) => void }>>()
  private readonly stopController = new AbortController()
  private persistFailures = 0
  private samplerSoon = false
  /** This node joined while a join wave lasted: one more push-pull when it ends (syncAfterWave). */
  private syncWhenWaveEnds = false
  /** Joins as this node sees them: while a wave lasts the sampler keeps few connections. */
  private readonly joinWave: JoinWave
  /** Members just learned, not dialled by the sampler yet. */
  private recent = new RecentMembers(0)
  /** Push-pull requests waiting for their reply to go back in the response, by asker and seq. */
  private readonly inBand = new Map<string, (reply: MembershipMessage | undefined) => void>()
  /** Members this node has had a connection to (see dialPending). */
  private readonly connectedOnce = new Set<string>()
  /** Peers with at least one open connection (libp2p's peer:connect / peer:disconnect). */
  private readonly linkedPeers = new Set<string>()
  private readonly onPeerConnect = (e: CustomEvent<PeerId>): void => { this.linkedPeers.add(e.detail.toString()) }
  private readonly onPeerDisconnect = (e: CustomEvent<PeerId>): void => { this.linkedPeers.delete(e.detail.toString()) }
  /** Connections opened since start, by direction: churn shows here, not in the open count. */
  private readonly opened = { inbound: 0, outbound: 0 }
  private readonly onConnectionOpen = (e: CustomEvent<Connection>): void => {
    this.connectedOnce.add(e.detail.remotePeer.toString())
    this.opened[e.detail.direction]++
  }
  private readonly now: () => number
  private readonly random: () => number

  constructor (private readonly opts: MembershipServiceOptions = {}) {
    this.now = opts.now ?? Date.now
    this.random = opts.random ?? defaultRandom
    // Jittered per node, so the ramps of a whole herd do not step in lockstep: the
    // first step anywhere in the first ramp period, the later ones 0.75–1.25 × apart.
    const rampMs = JOIN_WAVE.rampMs * (0.75 + this.random() / 2)
    this.joinWave = new JoinWave({ ...JOIN_WAVE, rampMs, firstStepMs: this.random() * rampMs })
  }

  // ------------------------------------------------------------ lifecycle

  async start (ctx: DaemonContext): Promise<void> {
    this.node = ctx.node
    this.log = ctx.log.child({ component: 'membership' })
    this.store = incarnationStore(ctx.paths.root)
    const persisted = await this.store.load()
    this.meta = metaFromConfig(ctx.config)
    const metaBytes = encodeMetaOrThrow(this.meta)
    const selfId = ctx.node.peerId.toString()
    // Bound before the core is made: its first self-description carries the UDP address.
    const binds = datagramBinds(ctx.config.listen, ctx.node.getMultiaddrs().map(a => a.toString()))
    if (this.opts.datagrams !== false && binds.length > 0) {
      try {
        this.datagrams = await openDatagramChannel({
          selfId,
          privateKey: ctx.identity.privateKey,
          bind: binds,
          onMessage: (from, payload, info) => { this.transport?.receiveDatagram(from, payload, info) }
        })
      } catch (err) {
        // Still a working member: without a UDP address, everyone probes it over libp2p.
        this.log.warn('probe datagrams unavailable; probing over libp2p only', { bind: binds, err: (err as Error).message })
      }
    }
    this.core = createMembership({
      self: { id: selfId, addrs: this.selfAddrs(), meta: metaBytes },
      ...(persisted !== undefined ? { incarnation: persisted } : {}),
      ...(this.opts.core !== undefined ? { config: this.opts.core } : {}),
      random: this.random,
      now: this.now(),
      linkPending: (id) => this.dialPending(id),
      linked: (id) => this.linkedPeers.has(id)
    })
    // At most half the probe grace: the member's first probe must find the connection up.
    this.recent = new RecentMembers(Math.min(SAMPLE_HOLD_OFF_MS, Math.floor(this.core.config.probeGraceAfterAlive / 2)))
    this.transport = await startTransport({
      node: ctx.node,
      deliver: (from, msg, channel, via) => { this.onMessage(from, msg, channel, via) },
      onSendFailed: (to, channel, err, msg) => {
        const message = err instanceof Error ? err.message : String(err)
        this.log?.debug('membership send failed', { to, channel, err: message })
        if (msg.type === 'push-pull' && msg.join) this.settleJoin(to, new MembershipServiceError('join-failed', `push-pull with seed ${to} failed: ${message}`))
      },
      answer: async (from, msg) => await this.answerInBand(from, msg),
      joinSyncTimeoutMs: JOIN_REPLY_TIMEOUT_MS,
      now: this.now,
      ...(this.datagrams !== undefined ? { datagrams: this.datagrams } : {})
    })
    this.pump()
    await this.persisting // the first incarnation is on disk before start() returns
    ctx.node.addEventListener('connection:open', this.onConnectionOpen)
    ctx.node.addEventListener('peer:connect', this.onPeerConnect)
    ctx.node.addEventListener('peer:disconnect', this.onPeerDisconnect)
    for (const c of ctx.node.getConnections()) {
      this.connectedOnce.add(c.remotePeer.toString())
      this.linkedPeers.add(c.remotePeer.toString())
    }

    const sampling = this.opts.sampling ?? {}
    this.sampler = new PeerSampler(ctx.node, {
      members: () => this.aliveOthers().map(e => ({ id: e.id, addrs: dialableAddrs(e.addrs) })),
      ring: () => this.samplingRing(),
      recent: this.recent,
      now: this.now,
      min: sampling.min ?? 6,
      max: sampling.max ?? 10,
      dialCap: () => this.joinWave.dialCap(this.now()),
      // With probes on datagrams every sampled connection may be rotated (none is
      // kept for the ring): one swap every 30 s keeps the overlay mixing without a
      // handshake every few seconds.
      rotateEveryTicks: Math.max(1, Math.round(SAMPLE_ROTATE_MS / (sampling.tickMs ?? 500))),
      random: this.random
    })
    this.samplerTimer = setInterval(() => { this.sampler?.tick(); this.syncAfterWave(); this.notePatience() }, sampling.tickMs ?? 500)
    this.samplerTimer.unref()
    if (this.datagrams !== undefined) {
      this.datagramWatchTimer = setInterval(() => { this.watchDatagrams() }, DATAGRAM_WATCH_MS)
      this.datagramWatchTimer.unref()
    }

    registerMembershipCommands(ctx.registry, this)
    ctx.status.addField('incarnation', () => this.core?.incarnation())
    ctx.status.addField('checksum', () => this.core?.checksum())
    ctx.status.addField('members', () => this.core?.counts())
    ctx.status.addField('membership', () => this.details())

    this.log.info('membership started', { incarnation: this.core.incarnation(), restartedFrom: persisted })
    if (ctx.config.join.length > 0) void this.joinUntilOneAnswers(ctx.config.join)
  }

  async stop (): Promise<void> {
    this.stopController.abort()
    this.node?.removeEventListener('connection:open', this.onConnectionOpen)
    this.node?.removeEventListener('peer:connect', this.onPeerConnect)
    this.node?.removeEventListener('peer:disconnect', this.onPeerDisconnect)
    if (this.samplerTimer !== undefined) clearInterval(this.samplerTimer)
    if (this.datagramWatchTimer !== undefined) clearInterval(this.datagramWatchTimer)
    this.sampler?.stop()
    this.timer?.cancel()
    this.timerAt = Infinity
    for (const answer of [...this.inBand.values()]) answer(undefined)
    for (const set of this.joinWaiters.values()) for (const w of set) w.reject(new MembershipServiceError('not-started', 'the agent is stopping'))
    this.joinWaiters.clear()
    await this.persisting.catch(() => {})
    await this.transport?.stop()
    await this.datagrams?.stop()
  }

  // ------------------------------------------------------------ MembershipPort

  get selfId (): string { return this.started().id }

  view (): EpochViewMember[] {
    const start = this.now()
    return this.started().members().map(e => {
      const meta = this.decodeMeta(e.meta)
      return { id: e.id, status: e.status, statusSince: this.since.get(e.id) ?? start, ...(meta !== undefined ? { meta } : {}) }
    })
  }

  onChange (cb: () => void): () => void {
    this.changeListeners.add(cb)
    return () => { this.changeListeners.delete(cb) }
  }

  setLocalMeta (update: { epoch: number, ready: boolean, holds: string[] }): void {
    const core = this.started()
    if (core.hasLeft() || this.meta === undefined) return
    const fitted = encodeMetaFitting({ ...this.meta, epoch: update.epoch, ready: update.ready, holds: [...update.holds] })
    this.replaceMeta(fitted.meta, fitted.bytes)
  }

  // ------------------------------------------------------------ operations (socket commands)

  members (): MemberEntry[] { return this.started().members() }

  decodeMeta (bytes: Uint8Array): NodeMeta | undefined {
    let m = this.metaCache.get(bytes)
    if (m === undefined) {
      try { m = decodeNodeMeta(bytes) } catch { m = null }
      this.metaCache.set(bytes, m)
    }
    return m ?? undefined
  }

  statusSince (id: string): number | undefined { return this.since.get(id) }

  localMeta (): NodeMeta {
    this.started()
    return this.meta as NodeMeta
  }

  /** Applies a device change, raises the incarnation and gossips the new meta. */
  changeDevices (op: DeviceOp): NodeMeta {
    const core = this.started()
    if (core.hasLeft()) throw new MembershipServiceError('left', 'this node has left the cluster')
    const { meta, bytes } = applyDeviceOp(this.meta as NodeMeta, op)
    this.replaceMeta(meta, bytes)
    return meta
  }

  forceLeave (id: string): MemberEntry {
    const core = this.started()
    core.forceLeave(id, this.now())
    this.pump()
    // The operator's override: the map service may publish the next epoch without a majority.
    for (const cb of this.forceLeaveListeners) cb(id)
    return core.get(id) as MemberEntry
  }

  /** Called after each accepted force-leave; returns an unsubscribe function. */
  onForceLeave (cb: (id: string) => void): () => void {
    this.forceLeaveListeners.add(cb)
    return () => { this.forceLeaveListeners.delete(cb) }
  }

  /** Publishes `left`, waits briefly (bounded) for it to spread, then calls onLeft soon after the caller answers. */
  async leave (): Promise<{ incarnation: number, spreadTo: number }> {
    const core = this.started()
    if (core.hasLeft()) throw new MembershipServiceError('left', 'this node has already left')
    core.leave(this.now())
    this.pump()
    const deadline = AbortSignal.timeout(LEAVE_MAX_WAIT_MS)
    const published = await Promise.race([
      this.persisting.then(async () => await Promise.all(this.lastPublishes)),
      new Promise<number[]>(resolve => { deadline.addEventListener('abort', () => { resolve([]) }, { once: true }) })
    ])
    // Direct peers have it once publish returns; give the mesh a moment to forward.
    await sleep(LEAVE_SPREAD_MS)
    const spreadTo = Math.max(0, ...published)
    this.log?.info('left the cluster', { incarnation: core.incarnation(), spreadTo })
    const onLeft = this.opts.onLeft ?? (() => { process.kill(process.pid, 'SIGTERM') })
    setTimeout(onLeft, 100).unref()
    return { incarnation: core.incarnation(), spreadTo }
  }

  /** Joins through each address in parallel; resolves with the seeds whose push-pull completed. */
  async join (addrs: string[], opts: { retries?: number, signal?: AbortSignal } = {}): Promise<{ joined: string[], errors: Array<{ addr: string, code: string, message: string }> }> {
    this.started()
    const results = await Promise.all(addrs.map(async addr => {
      try {
        return { addr, id: await this.joinOne(addr, opts) }
      } catch (err) {
        const code = typeof (err as { code?: unknown }).code === 'string' ? (err as { code: string }).code : 'join-failed'
        return { addr, code, message: (err as Error).message }
      }
    }))
    const joined: string[] = []
    const errors: Array<{ addr: string, code: string, message: string }> = []
    for (const r of results) {
      if ('id' in r && r.id !== undefined) joined.push(r.id)
      else if ('code' in r) errors.push({ addr: r.addr, code: r.code, message: r.message })
    }
    return { joined, errors }
  }

  subscribe (listener: (e: MonitorEvent) => void): () => void {
    this.eventListeners.add(listener)
    return () => { this.eventListeners.delete(listener) }
  }

  details (): Record<string, unknown> {
    const core = this.core
    const t = this.transport?.stats
    return {
      awareness: core?.awarenessScore(),
      digestRepairs: core?.digestRepairs(),
      left: core?.hasLeft(),
      connections: this.node?.getConnections().length,
      connectionsOpened: { ...this.opened },
      rejected: t === undefined ? undefined : { gossip: this.transport?.gossipRejected() ?? 0, probe: t.rejected.probe, sync: t.rejected.sync },
      rejectReasons: t?.rejectReasons,
      sent: t?.sent,
      sentByType: t?.sentByType,
      inBand: t?.inBand,
      datagrams: this.datagrams === undefined
        ? undefined
        : { endpoints: this.datagrams.endpoints, sent: t?.datagrams.sent, received: t?.datagrams.received, fallbacks: t?.datagrams.fallbacks, bypasses: t?.datagrams.bypasses, sendFailures: this.datagrams.stats.failed, rejected: this.datagrams.stats.rejected, silent: this.datagramWatch.silent },
      received: t?.received,
      sendFailures: t?.sendFailures,
      bytesIn: t?.bytesIn,
      bytesOut: t?.bytesOut,
      persistFailures: this.persistFailures,
      sampler: this.sampler?.stats
    }
  }

  // ------------------------------------------------------------ the loop

  private started (): Membership {
    if (this.core === undefined) throw new MembershipServiceError('not-started', 'membership has not started')
    return this.core
  }

  private selfAddrs (): string[] {
    const node = this.node as RingleaderNode
    const all = node.getMultiaddrs().map(a => a.toString()).filter(a => a.length <= 192)
    // Routable addresses first: a peer on another host cannot use our loopback one.
    const loopback = (a: string): boolean => a.startsWith('/ip4/127.') || a.startsWith('/ip6/::1/')
    const tcp = [...all.filter(a => !loopback(a)), ...all.filter(loopback)]
    const udp = this.datagrams === undefined ? [] : advertisedUdpAddrs(tcp, this.datagrams.endpoints).slice(0, MAX_ADDRS / 2)
    return [...tcp.slice(0, MAX_ADDRS - udp.length), ...udp]
  }

  /**
   * The probe ring as the sampler acts on it: mutual neighbours are dialled by the
   * lower id only, and a neighbour probed by datagram needs no connection at all
   * (the sampler's random sample is then all this node keeps).
   */
  private samplingRing (): { observes: string[], neighbours: string[], awaited: string[] } {
    const ring = this.started().ring()
    const needsLink = (id: string): boolean => !this.probedByDatagram(id)
    const { dial, awaited } = dialDirections(this.selfId, ring.observes.filter(needsLink), ring.observedBy.filter(needsLink))
    return { observes: dial, neighbours: ring.neighbours.filter(needsLink), awaited }
  }

  /** Warns once when probe datagrams go out but none come in (a firewall on the UDP port), and when they come back. */
  private watchDatagrams (): void {
    const t = this.transport?.stats.datagrams
    if (t === undefined || this.datagrams === undefined) return
    const before = this.datagramWatch
    const now = { sent: t.sent, received: t.received }
    // Silent from a window that looks blocked until a datagram arrives again.
    const silent = now.received === before.counts.received && (before.silent || datagramsSilent(before.counts, now))
    const port = this.datagrams.endpoints.map(e => `${e.host}:${e.port}`).join(', ')
    if (silent && !before.silent) {
      this.log?.warn('probe datagrams go out but none arrive: is UDP blocked?', { udp: port, sent: now.sent - before.counts.sent, windowMs: DATAGRAM_WATCH_MS, hint: 'open the UDP port, or run every agent with --probe-udp off' })
    } else if (!silent && before.silent) {
      this.log?.info('probe datagrams arrive again', { udp: port })
    }
    this.datagramWatch = { counts: now, silent }
  }

  /** Whether probes to `id` go as datagrams (both sides have them, and they work), so they need no connection. */
  private probedByDatagram (id: string): boolean {
    const addrs = this.core?.get(id)?.addrs
    return addrs !== undefined && this.transport?.pingsByDatagram(id, addrs) === true
  }

  /**
   * Whether a connection to `id` is being set up: libp2p is dialling it (the sampler
   * warming a probe target, or any other dial), or it is a mutual neighbour with the
   * lower id, whose dial to us is what we wait for (dialDirections).
   */
  private dialPending (id: string): boolean {
    const node = this.node
    if (node === undefined) return false
    if (this.probedByDatagram(id)) return false
    for (const d of node.getDialQueue()) if (d.peerId?.toString() === id) return true
    // Only a first connection is awaited: once we have been connected, a lost
    // connection may mean the member died, and its probe must not wait for a dial
    // that will never come.
    return !this.connectedOnce.has(id) && this.samplingRing().awaited.includes(id)
  }

  private aliveOthers (): MemberEntry[] {
    const core = this.core
    if (core === undefined) return []
    return core.members().filter(e => e.id !== core.id && e.status === 'alive')
  }

  private replaceMeta (meta: NodeMeta, bytes: Uint8Array): void {
    const core = this.started()
    const current = core.get(core.id)?.meta
    this.meta = meta
    if (current !== undefined && Buffer.compare(Buffer.from(current), Buffer.from(bytes)) === 0) return
    core.updateMeta(bytes, this.now())
    this.pump()
  }

  private onMessage (from: string, msg: MembershipMessage, _channel: MembershipChannel, via: { datagram: boolean }): void {
    const core = this.core
    if (core === undefined) return
    // Answers to what came over libp2p go back over libp2p (Outgoing.reliable).
    core.receive(from, msg, this.now(), { reliable: !via.datagram })
    if (msg.type === 'push-pull' && msg.reply) this.settleJoin(from, undefined)
    this.pump()
  }

  /**
   * Drains the core. Messages that carry our incarnation wait until it is on disk
   * (saves run in order on `persisting`); everything else (acks above all) goes at
   * once, so a slow fsync never keeps this node from answering probes. Then events,
   * then the timer is re-armed.
   */
  private pump (): void {
    const core = this.core
    if (core === undefined) return
    const r = core.ready()
    const incarnation = core.incarnation()
    const { write, now, held } = planDurability(this.reserve, core.id, r, incarnation)
    if (write !== undefined) this.queueSave(write)
    if (now.publish.length > 0) this.publishAll(now.publish)
    for (const o of now.send) this.deliver(o)
    if (held.send.length > 0 || held.publish.length > 0) {
      this.persisting = this.persisting.then(() => {
        // The save failed: drop them (anti-entropy repeats our state) rather than
        // announce an incarnation a crash could take back.
        if (!this.reserve.covers(incarnation)) return
        try {
          if (held.publish.length > 0) this.publishAll(held.publish)
          for (const o of held.send) this.deliver(o)
        } catch (err) {
          // Never reject `persisting`: every later save and held message waits on it.
          this.log?.warn('membership send failed', { err })
        }
      })
    }
    this.handleEvents(r.events)
    this.arm()
  }

  private queueSave (ceiling: number): void {
    this.persisting = this.persisting.then(async () => {
      try {
        await this.store?.save(ceiling)
        this.reserve.written(ceiling)
      } catch (err) {
        this.reserve.failed(ceiling)
        this.persistFailures++
        this.log?.error('cannot persist the membership incarnation; not announcing it', { err })
      }
    })
  }

  private publishAll (messages: GossipMessage[]): void {
    this.lastPublishes = messages.map(g => (this.transport as MembershipTransport).publish(g))
  }

  private deliver (o: Outgoing): void {
    // Never throws; a failure comes back through onSendFailed (which settles a failed join).
    if (!this.replyInBand(o)) void (this.transport as MembershipTransport).send(o)
  }

  /**
   * The sync handler waits here (briefly) for the core's reply to a push-pull, so it
   * can travel back in the response; see MembershipTransport's `answer`.
   */
  private async answerInBand (from: string, msg: MembershipMessage): Promise<MembershipMessage | undefined> {
    if (msg.type !== 'push-pull' || msg.reply || this.stopController.signal.aborted) return undefined
    return await new Promise<MembershipMessage | undefined>(resolve => {
      // Keyed by asker and seq: the reply names the request's seq, so each reply
      // answers its own request even when one peer has several in flight.
      const key = inBandKey(from, msg.seq)
      const timer = setTimeout(() => { this.inBand.delete(key); resolve(undefined) }, IN_BAND_REPLY_WAIT_MS)
      this.inBand.get(key)?.(undefined) // a repeated seq: the older request's reply goes the slow way
      this.inBand.set(key, (reply) => { clearTimeout(timer); this.inBand.delete(key); resolve(reply) })
    })
  }

  /** Hands a push-pull reply to the request waiting for it; false when none waits. */
  private replyInBand (o: Outgoing): boolean {
    if (o.msg.type !== 'push-pull' || !o.msg.reply) return false
    const waiter = this.inBand.get(inBandKey(o.to, o.msg.seq))
    if (waiter === undefined) return false
    waiter(o.msg)
    return true
  }

  private arm (): void {
    const core = this.core
    if (core === undefined || this.stopController.signal.aborted) return
    const at = core.nextDeadline()
    if (at === this.timerAt && this.timer !== undefined) return
    this.timer?.cancel()
    this.timer = undefined
    this.timerAt = at
    if (at === Infinity) return
    // Deadlines (probe timeouts above all) are judged only after the acks that
    // arrived while this process waited for CPU have been read.
    this.timer = setTimeoutAfterIo(() => {
      this.timer = undefined
      this.timerAt = Infinity
      core.tick(this.now())
      this.pump()
    }, Math.max(0, at - this.now()))
  }

  private handleEvents (events: MemberEvent[]): void {
    if (events.length === 0) return
    // A new member: connect to it as soon as the hold-off ends rather than at some
    // later sampling round, so its first probes do not pay for the dial (a cold dial
    // can outlast probeTimeout).
    const joined = events.filter(e => e.kind === 'join')
    for (const e of joined) this.recent.add(e.member.id, this.now())
    if (joined.length > 0) {
      this.joinWave.note(this.now())
      this.notePatience()
    }
    if (joined.length > 0 && !this.samplerSoon) {
      this.samplerSoon = true
      const timer = setTimeout(() => { this.samplerSoon = false; this.sampler?.tick() }, this.recent.holdMs)
      timer.unref()
    }
    for (const e of events) {
      if (e.kind === 'reap') { this.since.delete(e.member.id); this.connectedOnce.delete(e.member.id); this.recent.delete(e.member.id) }
      else if (e.kind !== 'update') this.since.set(e.member.id, e.at)
      else if (!this.since.has(e.member.id)) this.since.set(e.member.id, e.at)
      const out: MonitorEvent = {
        kind: e.kind,
        id: e.member.id,
        status: e.member.status,
        incarnation: e.member.incarnation,
        ...(e.previous !== undefined ? { previous: e.previous } : {}),
        at: new Date(e.at).toISOString()
      }
      if (e.kind !== 'update') this.log?.info(`member ${e.kind}`, { member: e.member.id, incarnation: e.member.incarnation })
      for (const l of this.eventListeners) { try { l(out) } catch { /* a broken listener must not stop the loop */ } }
    }
    for (const cb of this.changeListeners) { try { cb() } catch (err) { this.log?.warn('membership change listener failed', { err }) } }
  }

  // ------------------------------------------------------------ joining

  private settleJoin (seed: string, err: Error | undefined): void {
    const set = this.joinWaiters.get(seed)
    if (set === undefined) return
    this.joinWaiters.delete(seed)
    for (const w of set) { if (err === undefined) w.resolve(); else w.reject(err) }
  }

  private async joinOne (addr: string, opts: { retries?: number, signal?: AbortSignal }): Promise<string> {
    const core = this.started()
    if (core.hasLeft()) throw new MembershipServiceError('left', 'this node has left the cluster; restart it to join again')
    const target = parseJoinAddress(addr)
    const selfId = core.id
    if (target.peerId === selfId) throw new MembershipServiceError('self', `${addr} is this node`)
    const signal = opts.signal !== undefined ? AbortSignal.any([opts.signal, this.stopController.signal]) : this.stopController.signal
    const conn: Connection = await dialSeed(this.node as RingleaderNode, target, { retries: opts.retries ?? JOIN_DIAL_RETRIES, backoffMs: 200, dialTimeoutMs: 3000, budgetMs: JOIN_DIAL_BUDGET_MS, unreachableRetries: 2, signal, random: this.random })
    const seedId = conn.remotePeer.toString()
    if (seedId === selfId) throw new MembershipServiceError('self', `${addr} is this node`)
    const text = target.multiaddr.toString()
    const seedAddr = target.peerId !== undefined ? text : `${text}/p2p/${seedId}`
    const replied = new Promise<void>((resolve, reject) => {
      let set = this.joinWaiters.get(seedId)
      if (set === undefined) { set = new Set(); this.joinWaiters.set(seedId, set) }
      const waiter = { resolve: () => { clearTimeout(timer); resolve() }, reject: (err: Error) => { clearTimeout(timer); reject(err) } }
      const timer = setTimeout(() => {
        set?.delete(waiter)
        reject(new MembershipServiceError('join-failed', `seed ${seedId} did not answer the push-pull within ${JOIN_REPLY_TIMEOUT_MS} ms`))
      }, JOIN_REPLY_TIMEOUT_MS)
      set.add(waiter)
    })
    core.join(seedId, this.now(), [seedAddr])
    this.pump()
    await replied
    this.syncWhenWaveEnds = true
    return seedId
  }

  /** Probes wait twice as long while a join wave settles (Membership.probePatience; setting it again is a no-op). */
  private notePatience (): void {
    this.core?.probePatience(this.joinWave.settling(this.now(), PATIENCE_UNTIL_CONNECTIONS) ? WAVE_PROBE_PATIENCE : 0)
  }

  /**
   * A node that joined in a wave does one more push-pull (with a member other than
   * its seed) once the wave is over. While the wave lasts a joiner keeps its seed's
   * connection only, and an update not published by the seed (a refutation) may
   * reach few through the seed's mesh; the agent runs no follow-ups after a join.
   * What this misses, digest repair in the core finds once the views stand still.
   * Only joiners do it, so one join into a quiet cluster of many costs one
   * push-pull, not one per member.
   */
  private syncAfterWave (): void {
    const core = this.core
    if (!this.syncWhenWaveEnds || core === undefined || this.joinWave.dialCap(this.now()) <= JOIN_WAVE.hold) return
    this.syncWhenWaveEnds = false
    core.syncSoon(this.now())
    this.pump()
  }

  /**
   * `--join`: round-robin over the seeds with backoff until one push-pull completes or
   * the agent stops. Each node starts at a random seed, so a cluster powering on with
   * the same seed list spreads its joins over the seeds instead of queueing at the
   * first (a seed handshakes only MAX_INCOMING_PENDING at once).
   */
  private async joinUntilOneAnswers (seeds: string[]): Promise<void> {
    const signal = this.stopController.signal
    const order = seedOrder(seeds, this.random)
    for (let round = 1; !signal.aborted; round++) {
      for (const seed of order) {
        if (signal.aborted) return
        try {
          const id = await this.joinOne(seed, { retries: 0, signal })
          this.log?.info('joined the cluster', { seed, seedId: id })
          return
        } catch (err) {
          if (signal.aborted) return
          if (err instanceof MembershipError || err instanceof JoinAddressError || (err instanceof MembershipServiceError && err.code !== 'join-failed')) {
            this.log?.error('cannot join', { seed, err: (err as Error).message })
            return
          }
          this.log?.warn('join attempt failed', { seed, round, err: (err as Error).message })
        }
      }
      const delay = backoffDelay(round, { backoffMs: 500, maxBackoffMs: 30_000, random: this.random })
      try { await sleep(delay, signal) } catch { return }
    }
  }
}

async function sleep (ms: number, signal?: AbortSignal): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => { signal?.removeEventListener('abort', onAbort); resolve() }, ms)
    const onAbort = (): void => { clearTimeout(timer); reject(signal?.reason) }
    signal?.addEventListener('abort', onAbort, { once: true })
  })
}

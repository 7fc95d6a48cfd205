// The membership state machine: SWIM failure detection with Lifeguard's
// awareness, nacks and dynamic suspicion, push-pull anti-entropy, and the merge
// order of state.ts. Pure: time, randomness and messages come in as arguments,
// and everything to do goes out through ready() (etcd raft style).

import { Awareness } from './awareness.js'
import { Outbox, type Ready } from './broadcast.js'
import { liveDigest, membershipChecksum } from './checksum.js'
import { DigestRepair } from './digest-repair.js'
import { ReapedMembers } from './reaped.js'
import {
  lateTickSlack, pushPullPeriod, resolveConfig, suspicionConfirmationsFor, suspicionCrowdStretch, suspicionMinTimeout,
  type MembershipConfig, type ResolvedConfig
} from './config.js'
import { MembershipError } from './errors.js'
import { transitionEvent } from './events.js'
import { Prober, type ProbeFailureEvidence } from './probe.js'
import { jittered, pushPullMessage, remoteStatus } from './push-pull.js'
import { MemberTable, supersedes, type StatusCounts } from './state.js'
import { Suspicion } from './suspicion.js'
import type { GossipMessage, MemberEntry, MembershipMessage, MemberStatus, PushPullMessage, SelfDescription } from './types.js'
import { checkSelfDescription } from './validate-self.js'

export interface MembershipOptions {
  readonly self: SelfDescription
  /** The last incarnation this node persisted, or undefined for a brand-new node. The core starts one above it. */
  readonly incarnation?: number
  readonly config?: Partial<MembershipConfig>
  /** Uniform in [0, 1); seed it for reproducible runs. */
  readonly random: () => number
  readonly now: number
  /**
   * Whether a connection to `id` is being set up right now (the shell's dial queue).
   * The prober then probes someone else first, for up to config.probeDeferLimit:
   * a probe sent now would time the handshake, not the member (under a mass join a
   * cold dial outlasts probeTimeout and the member is suspected for nothing).
   */
  readonly linkPending?: (id: string) => boolean
  /**
   * Whether the shell holds a connection to `id`. Anti-entropy then prefers a linked
   * partner over a ring neighbour: where probes need no connection (datagrams),
   * ring neighbours are not kept connected, and a push-pull to one would dial.
   */
  readonly linked?: (id: string) => boolean
}

/** Where a claim came from: our own decision (published or quiet), a gossip update, or a push-pull from `peer`. */
type Origin = { kind: 'local' } | { kind: 'quiet' } | { kind: 'gossip' } | { kind: 'push-pull', peer: string, join: boolean }

interface IncomingClaim {
  readonly id: string
  readonly incarnation: number
  readonly status: MemberStatus
  readonly addrs?: readonly string[]
  readonly meta?: Uint8Array
  /** The member that asserts it (the accuser for suspect). */
  readonly from: string
}

const LOCAL: Origin = { kind: 'local' }
const GOSSIP: Origin = { kind: 'gossip' }
/** Our own decision that we do not publish (a suspicion expiring at a non-accuser). */
const QUIET: Origin = { kind: 'quiet' }

/** What a member contributes to the live digest: its incarnation while alive or suspect. */
function liveIncarnation (e: MemberEntry | undefined): number | undefined {
  return e !== undefined && (e.status === 'alive' || e.status === 'suspect') ? e.incarnation : undefined
}

export class Membership {
  readonly id: string
  private readonly cfg: ResolvedConfig
  private readonly random: () => number
  private readonly linked: ((id: string) => boolean) | undefined
  private readonly table = new MemberTable()
  private readonly awareness: Awareness
  private readonly outbox = new Outbox()
  private readonly prober: Prober
  private readonly suspicions = new Map<string, Suspicion>()
  /** Members whose accusation this node held back, and since when (spareAccusation). */
  private readonly sparedSince = new Map<string, number>()
  /** When a tick last came late (noteLateTick): this process was starved then. */
  private lastLateTickAt = -Infinity
  private seq = 0
  private left = false
  private nextPushPullAt: number
  private nextDeadReconnectAt: number
  private nextReapAt = Infinity
  /** Times of the pending post-join push-pulls, ascending, and the seed they go to. */
  private followUps: number[] = []
  private joinSeed: { id: string, addrs: readonly string[] } | undefined
  /** The push-pull brought forward by syncSoon is not to go to joinSeed. */
  private soonAvoidsSeed = false
  private cachedChecksum: string | undefined
  private cachedDigest: string | undefined
  private readonly repair: DigestRepair
  /** Members reaped lately: a peer that has not reaped them yet cannot bring them back. */
  private readonly reaped = new ReapedMembers()
  /** A late tick raises awareness at most once per probe period; not again before this. */
  private lateTickQuietUntil = -Infinity

  constructor (opts: MembershipOptions) {
    checkSelfDescription(opts.self)
    if (opts.incarnation !== undefined && (!Number.isSafeInteger(opts.incarnation) || opts.incarnation < 0)) {
      throw new MembershipError('invalid-argument', `incarnation must be a non-negative integer, got ${String(opts.incarnation)}`)
    }
    this.cfg = resolveConfig(opts.config)
    this.random = opts.random
    this.linked = opts.linked
    this.id = opts.self.id
    this.awareness = new Awareness(this.cfg.awarenessMaxMultiplier)
    this.repair = new DigestRepair({ settleMs: this.cfg.digestSettle, minIntervalMs: this.cfg.digestRepairInterval })
    this.prober = new Prober({
      id: this.id,
      cfg: this.cfg,
      random: this.random,
      table: this.table,
      awareness: this.awareness,
      nextSeq: () => ++this.seq,
      send: (to, addrs, msg, reliable) => this.outbox.enqueueSend(to, addrs, msg, reliable),
      probeFailed: (target, incarnation, now, evidence) => this.onProbeFailed(target, incarnation, now, evidence),
      ...(opts.linkPending !== undefined ? { linkPending: opts.linkPending } : {})
    }, opts.now)
    const incarnation = (opts.incarnation ?? -1) + 1
    this.outbox.persist(incarnation)
    this.setEntry({ id: this.id, incarnation, status: 'alive', addrs: [...opts.self.addrs], meta: opts.self.meta }, opts.now)
    this.publishSelf()
    this.nextPushPullAt = opts.now + jittered(this.cfg.pushPullInterval, this.random)
    this.nextDeadReconnectAt = opts.now + jittered(this.cfg.deadReconnectInterval, this.random)
  }

  // ---------------------------------------------------------------- queries

  get config (): ResolvedConfig { return this.cfg }

  incarnation (): number { return this.self().incarnation }

  hasLeft (): boolean { return this.left }

  awarenessScore (): number { return this.awareness.score() }

  /** Push-pulls started by digest repair so far (see MembershipConfig.digestSettle). */
  digestRepairs (): number { return this.repair.repairs }

  get (id: string): MemberEntry | undefined { return this.table.get(id) }

  /** All known members (including self, dead and left until reaped), sorted by id. */
  members (): MemberEntry[] {
    return [...this.table.values()].sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0))
  }

  counts (): StatusCounts { return this.table.counts() }

  checksum (): string {
    this.cachedChecksum ??= membershipChecksum(this.table.values())
    return this.cachedChecksum
  }

  /** The digest of the live members that acks carry (checksum.ts liveDigest; digest repair). */
  liveDigest (): string {
    this.cachedDigest ??= liveDigest(this.table.values())
    return this.cachedDigest
  }

  /** Up to `count` random alive members other than us (for the shell's peer sampling: whom to keep connections to). */
  sampleMembers (count: number): MemberEntry[] {
    return this.table.sample(count, e => e.id !== this.id && e.status === 'alive', this.random)
  }

  /**
   * This node's place on the probe ring: the members it probes (`observes`), those
   * that probe it (`observedBy`), and both together (`neighbours`). The shell keeps
   * connections to these open, so a probe never waits for a dial.
   */
  ring (): { observes: string[], observedBy: string[], neighbours: string[] } {
    return { observes: this.prober.observed(), observedBy: this.prober.observers(), neighbours: this.prober.neighbours() }
  }

  /** Confirmations counted for a current suspicion (for status output and tests). */
  suspicion (id: string): { incarnation: number, confirmations: number, deadline: number } | undefined {
    const s = this.suspicions.get(id)
    return s === undefined ? undefined : { incarnation: s.incarnation, confirmations: s.confirmations(), deadline: s.deadline() }
  }

  /** The earliest time tick() has work to do (Infinity when none). */
  nextDeadline (): number {
    if (this.left) return Infinity
    let t = Math.min(this.nextPushPullAt, this.nextDeadReconnectAt, this.nextReapAt, this.followUps[0] ?? Infinity, this.prober.nextDeadline())
    for (const s of this.suspicions.values()) t = Math.min(t, s.deadline())
    return t
  }

  /** Drains what the shell must do: persist first, then send/publish, then deliver events. */
  ready (): Ready { return this.outbox.drain() }

  hasReady (): boolean { return !this.outbox.isEmpty() }

  // --------------------------------------------------------------- commands

  /** Starts a join push-pull with `seed` (call once per seed). */
  join (seed: string, now: number, seedAddrs: readonly string[] = []): void {
    this.assertActive()
    if (seed === this.id) throw new MembershipError('self', 'cannot join through ourselves')
    this.followUps = this.cfg.joinFollowUps.map(d => now + d)
    this.joinSeed = { id: seed, addrs: seedAddrs.length > 0 ? [...seedAddrs] : this.addrsOf(seed) }
    this.outbox.enqueueSend(seed, this.joinSeed.addrs, pushPullMessage(++this.seq, true, false, this.snapshot()))
  }

  /**
   * The shell's hint that the cluster is busy for a while, not this node ill: while
   * `patience` > 0, probe intervals and timeouts stretch as if Lifeguard's awareness
   * score were at least `patience` (so 1 doubles them); 0 ends it. It does not count
   * as local health: accusation rules and suspicion timeouts are unchanged. The
   * agent sets 1 while a join wave lasts: a seed admitting a 50-agent herd on two
   * cores stalled for 0.1–0.25 s at a time, past the 200 ms probe period, and was
   * suspected by nearly every member once or twice in each herd; and the herd's
   * probes are CPU the seed needs.
   */
  probePatience (patience: number): void {
    if (!Number.isSafeInteger(patience) || patience < 0) throw new MembershipError('invalid-argument', `probe patience must be a non-negative integer, got ${patience}`)
    this.awareness.floorAt(patience)
  }

  /**
   * Brings the periodic anti-entropy push-pull forward to the next tick (then it
   * keeps its period): the shell's hint that this node joined during a burst of
   * joins that has just ended, when what gossip missed is most likely (see the
   * agent's JoinWave). That push-pull goes to a member other than the seed this
   * node joined through (a connected one if there is one), unless the seed is the
   * only other member: every joiner of the burst is connected to that seed, and a
   * third of them asking it at once, just as the burst ended, had the seed declared
   * failed. No-op after leave.
   */
  syncSoon (now: number): void {
    if (this.left) return
    this.nextPushPullAt = Math.min(this.nextPushPullAt, now)
    this.soonAvoidsSeed = true
  }

  /** Publishes new addrs and/or meta under a higher incarnation. */
  updateSelf (change: { addrs?: readonly string[], meta?: Uint8Array }, now: number): void {
    this.assertActive()
    const me = this.self()
    const next = { id: this.id, addrs: change.addrs ?? me.addrs, meta: change.meta ?? me.meta }
    checkSelfDescription(next)
    this.raiseIncarnation(me.incarnation + 1, now, next.addrs, next.meta)
  }

  /** updateSelf({ meta }) — the agent's usual change (devices, epoch, readiness). */
  updateMeta (meta: Uint8Array, now: number): void {
    this.updateSelf({ meta }, now)
  }

  /** Graceful leave: publishes `left` for our current incarnation; afterwards the core only answers pings. */
  leave (now: number): void {
    if (this.left) return
    const me = this.self()
    this.left = true
    this.prober.stop()
    this.setEntry({ ...me, status: 'left' }, now)
    this.outbox.enqueuePublish({ type: 'left', id: this.id, incarnation: me.incarnation, from: this.id })
  }

  /** Operator override (HekaFS retire): marks a dead member as left. Refused for alive/suspect members. */
  forceLeave (id: string, now: number): void {
    this.assertActive()
    if (id === this.id) throw new MembershipError('self', 'use leave() for this node')
    const e = this.table.get(id)
    if (e === undefined) throw new MembershipError('unknown-member', `no member ${id}`)
    if (e.status === 'left') return
    if (e.status !== 'dead') throw new MembershipError('member-alive', `member ${id} is ${e.status}; only dead members can be force-left`)
    this.merge({ id, incarnation: e.incarnation, status: 'left', from: this.id }, LOCAL, now)
  }

  // ---------------------------------------------------------------- input

  /**
   * Feeds one received message (gossip or direct). `from` is the authenticated
   * sender; `via.reliable`: it came over the reliable channel, so answers to it go
   * back that way (Outgoing.reliable).
   */
  receive (from: string, msg: MembershipMessage, now: number, via: { reliable?: boolean } = {}): void {
    if (from === this.id) return
    const reliable = via.reliable === true
    if (this.left) {
      if (msg.type === 'ping') this.reply(from, { type: 'ack', seq: msg.seq }, reliable)
      else if (msg.type === 'push-pull' && !msg.reply) this.reply(from, pushPullMessage(msg.seq, false, true, this.snapshot()))
      return
    }
    switch (msg.type) {
      case 'ping': this.reply(from, { type: 'ack', seq: msg.seq, sum: this.liveDigest() }, reliable); break
      case 'ack': this.onAck(from, msg.seq, msg.sum, now); break
      case 'nack': this.prober.onNack(from, msg.seq); break
      case 'ping-req': this.prober.onPingReq(from, msg.seq, msg.target, msg.targetAddrs, now, reliable); break
      case 'alive': case 'suspect': case 'dead': case 'left':
        this.merge(claimOf(msg), GOSSIP, now)
        break
      case 'push-pull': this.onPushPull(from, msg, now); break
    }
  }

  /** Advances timers to `now`. */
  tick (now: number): void {
    if (this.left) return
    this.noteLateTick(now)
    this.expireSuspicions(now)
    this.prober.tick(now)
    this.antiEntropy(now)
    if (now >= this.nextReapAt) this.reap(now)
  }

  /**
   * Lifeguard's local health, fed one more signal: a tick that comes well after the
   * work it was set for means this process is starved (CPU shared with many others,
   * a long GC, a paused VM), so the probes it times are unreliable. Raising
   * awareness makes it probe less often and wait longer before accusing anyone;
   * successful probes lower it again. At most once per probe period, so one long
   * stall counts once.
   */
  private noteLateTick (now: number): void {
    if (now - this.nextDeadline() <= lateTickSlack(this.cfg)) return
    this.lastLateTickAt = now
    if (!this.cfg.awarenessOnLateTicks || now < this.lateTickQuietUntil) return
    this.awareness.apply(1)
    this.lateTickQuietUntil = now + this.cfg.probeInterval
  }

  private expireSuspicions (now: number): void {
    for (const [id, s] of [...this.suspicions]) {
      const due = s.deadline()
      if (due > now) continue
      // Woken late: our event loop stalled, and a refutation may sit unread behind
      // this timer (timers run before I/O). Decide one short grace later instead.
      if (now - due > lateTickSlack(this.cfg) && s.grace(now + this.cfg.probeTimeout)) continue
      if (s.accusedBy(this.id)) {
        this.merge({ id, incarnation: s.incarnation, status: 'dead', from: this.id }, LOCAL, now)
      } else if (s.verifying() === undefined) {
        // Not an accuser: the accusers publish `dead`. Before concluding on our own
        // timer, ping the suspect once: if it answers, we probably missed its
        // refutation and a push-pull fetches it (see onAck).
        const seq = ++this.seq
        s.verify(seq, now + this.awareness.scale(this.cfg.probeInterval))
        this.reply(id, { type: 'ping', seq })
      } else {
        // Only the accusers publish; everyone else marks it quietly (O(k) publishes per failure, not O(N)).
        this.merge({ id, incarnation: s.incarnation, status: 'dead', from: this.id }, QUIET, now)
      }
    }
  }

  /** Post-join follow-ups, the periodic push-pull and the dead-member reconnect. */
  private antiEntropy (now: number): void {
    let peer: { id: string, addrs: readonly string[] } | undefined
    let rejoin = false
    let due = false
    let firstDue = false
    while (this.followUps.length > 0 && this.followUps[0] <= now) {
      firstDue ||= this.followUps.length === this.cfg.joinFollowUps.length
      due = true
      this.followUps.shift()
    }
    if (due) {
      // The seed answered every concurrent joiner, so its view is the most complete:
      // the first follow-up asks it again. Not heard from it yet: the join request (or
      // its answer) was lost, ask again. Later follow-ups go to a neighbour: by then
      // gossip has spread most of what the seed knew, and a seed taking 49 joins at
      // once would otherwise answer four full-state exchanges per joiner.
      const seed = this.joinSeed === undefined ? undefined : this.table.get(this.joinSeed.id)
      rejoin = seed === undefined && this.joinSeed !== undefined
      const seedAlive = seed?.status === 'alive' ? seed : undefined
      peer = rejoin ? this.joinSeed : firstDue ? seedAlive ?? this.randomPeer() : this.randomPeer(seed?.id) ?? seedAlive
    }
    if (now >= this.nextPushPullAt) {
      const avoid = this.soonAvoidsSeed ? this.joinSeed?.id : undefined
      this.soonAvoidsSeed = false
      peer ??= this.randomPeer(avoid) ?? (avoid !== undefined ? this.randomPeer() : undefined)
      this.nextPushPullAt = now + jittered(pushPullPeriod(this.cfg, this.table.live()), this.random)
    }
    if (peer !== undefined) this.outbox.enqueueSend(peer.id, peer.addrs, pushPullMessage(++this.seq, rejoin, false, this.snapshot()))
    if (now >= this.nextDeadReconnectAt) {
      const peer = this.pickDeadPeer()
      if (peer !== undefined) this.outbox.enqueueSend(peer.id, peer.addrs, pushPullMessage(++this.seq, false, false, this.snapshot()))
      this.nextDeadReconnectAt = now + jittered(this.cfg.deadReconnectInterval, this.random)
    }
  }

  /**
   * An anti-entropy partner: a random alive member the shell is connected to (when
   * it says), else a random alive ring neighbour (a peer this node is connected to
   * anyway when probes need connections), else any alive member. A uniform pick over all members
   * would, over time, connect every pair: the N² connections probe observers avoid.
   */
  private randomPeer (except?: string): MemberEntry | undefined {
    const linked = this.linked
    if (linked !== undefined) {
      const peer = this.table.sample(1, e => e.id !== this.id && e.id !== except && e.status === 'alive' && linked(e.id), this.random)[0]
      if (peer !== undefined) return peer
    }
    const near = this.prober.neighbours().map(id => this.table.get(id)).filter((e): e is MemberEntry => e !== undefined && e.status === 'alive' && e.id !== except)
    if (near.length > 0) return near[Math.floor(this.random() * near.length) % near.length]
    return this.table.sample(1, e => e.id !== this.id && e.id !== except && e.status === 'alive', this.random)[0]
  }

  /**
   * Half the time the most recently failed member (the likeliest false positive,
   * e.g. one whose refutation this node missed), otherwise a uniform pick, so
   * long-dead members do not crowd out fresh ones.
   */
  private pickDeadPeer (): MemberEntry | undefined {
    if (this.random() < 0.5) {
      let recent: MemberEntry | undefined
      let recentAt = -Infinity
      for (const [id, since] of this.table.downMembers()) {
        const e = this.table.get(id)
        if (e?.status === 'dead' && since >= recentAt) { recent = e; recentAt = since }
      }
      return recent
    }
    return this.table.sample(1, e => e.status === 'dead', this.random)[0]
  }

  // ------------------------------------------------------------- probing

  /**
   * Whether to probe a newly suspected member next, to confirm or refute it quickly.
   * With probe observers, its other observers do (they are connected to it anyway;
   * anyone else would first have to dial it, under load slower than a probe
   * timeout); probing everyone, about suspicionProbeFanout random members do.
   */
  private confirms (id: string, n: number): boolean {
    if (this.cfg.probeObservers > 0) return this.prober.observes(id)
    return this.random() < Math.min(1, this.cfg.suspicionProbeFanout / Math.max(1, n - 2))
  }

  private onProbeFailed (target: string, incarnation: number, now: number, evidence: ProbeFailureEvidence): void {
    const e = this.table.get(target)
    if (e === undefined || e.incarnation !== incarnation || (e.status !== 'alive' && e.status !== 'suspect')) return
    if (this.spareAccusation(target, now, evidence)) return
    this.merge({ id: target, incarnation, status: 'suspect', from: this.id }, LOCAL, now)
    // Lifeguard: tell the suspect directly so it can refute at once.
    this.reply(target, { type: 'suspect', id: target, incarnation, from: this.id })
  }

  /**
   * A node that cannot trust its own probes does not accuse (our addition to
   * Lifeguard, whose awareness only slows such a node's probing). It cannot when
   * its event loop ran late within accuseHoldAfterStall (starved: the probe it
   * just timed says more about it than about the target), or when it was already
   * unhealthy (awareness above 0) and none of the helpers it asked nacked, so
   * nothing shows that its own links work. A helper's nack is that proof: a
   * partitioned node whose helpers on its own side nack still accuses. The target
   * keeps its turn in the round; the accusation comes once the node trusts its
   * probes again, or after accuseDeferLimit at the latest. (Probing it again at once
   * put a busy member under the pings of every node that spared it: 50-agent
   * rolling starts ended with one agent declared dead by all others.)
   */
  private spareAccusation (target: string, now: number, evidence: ProbeFailureEvidence): boolean {
    for (const [id, since] of this.sparedSince) if (now - since > 2 * this.cfg.accuseDeferLimit) this.sparedSince.delete(id)
    const starved = now - this.lastLateTickAt < this.cfg.accuseHoldAfterStall
    const unproven = this.cfg.accuseHoldAfterStall > 0 && evidence.awarenessBefore > 0 && evidence.noNacks
    if (!starved && !unproven) {
      this.sparedSince.delete(target)
      return false
    }
    const since = this.sparedSince.get(target)
    if (since !== undefined && now - since >= this.cfg.accuseDeferLimit) {
      this.sparedSince.delete(target)
      return false
    }
    if (since === undefined) this.sparedSince.set(target, now)
    return true
  }

  private onAck (from: string, seq: number, sum: string | undefined, now: number): void {
    if (this.prober.onAck(from, seq)) {
      this.compareDigest(from, sum, now)
      return
    }
    const s = this.suspicions.get(from)
    if (s !== undefined && s.verifying() === seq) {
      // The suspect is up: fetch its state (holding its refutation) before our timer ends.
      s.verify(seq, now + this.awareness.scale(this.cfg.probeInterval))
      this.outbox.enqueueSend(from, this.addrsOf(from), pushPullMessage(++this.seq, false, false, this.snapshot()))
    }
  }

  /** An expected ack carried `from`'s live digest: push-pull with it when both stood still apart (DigestRepair). */
  private compareDigest (from: string, sum: string | undefined, now: number): void {
    if (sum === undefined || !this.repair.observe(from, this.liveDigest(), sum, now)) return
    this.outbox.enqueueSend(from, this.addrsOf(from), pushPullMessage(++this.seq, false, false, this.snapshot()))
  }

  // ------------------------------------------------------------- merging

  private onPushPull (from: string, msg: PushPullMessage, now: number): void {
    const origin: Origin = { kind: 'push-pull', peer: from, join: msg.join }
    for (const e of msg.entries) {
      const status = remoteStatus(e.status, e.id === this.id ? undefined : this.table.get(e.id))
      this.merge({ id: e.id, incarnation: e.incarnation, status, addrs: e.addrs, meta: e.meta, from }, origin, now)
    }
    // Merge first, so the reply already carries our refutation if the peer had us dead.
    if (!msg.reply) this.reply(from, pushPullMessage(msg.seq, false, true, this.snapshot()))
  }

  /** Applies one claim under the merge order, with its timers, events and publications. */
  private merge (claim: IncomingClaim, origin: Origin, now: number): void {
    if (claim.id === this.id) {
      this.mergeAboutSelf(claim, now)
      return
    }
    const current = this.table.get(claim.id)
    if (current === undefined && this.reaped.stale(claim.id, claim, now)) return
    if (current !== undefined && !supersedes(claim, current)) {
      if (claim.status === 'suspect' && current.status === 'suspect' && claim.incarnation === current.incarnation) {
        const s = this.suspicions.get(claim.id)
        if (s?.confirm(claim.from) === true && origin.kind === 'local') {
          this.outbox.enqueuePublish({ type: 'suspect', id: claim.id, incarnation: claim.incarnation, from: this.id })
        }
      }
      return
    }
    const alive = claim.status === 'alive'
    const next: MemberEntry = {
      id: claim.id,
      incarnation: claim.incarnation,
      status: claim.status,
      addrs: alive && claim.addrs !== undefined ? claim.addrs : current?.addrs ?? [],
      meta: alive && claim.meta !== undefined ? claim.meta : current?.meta ?? new Uint8Array(0)
    }
    this.setEntry(next, now)
    this.suspicions.delete(claim.id)
    if (claim.status === 'suspect') {
      const n = this.table.live()
      const min = suspicionMinTimeout(this.cfg, n) * suspicionCrowdStretch(this.cfg, this.suspicions.size)
      this.suspicions.set(claim.id, new Suspicion(claim.incarnation, now, min, min * this.cfg.suspicionMaxTimeoutMult, suspicionConfirmationsFor(this.cfg, n), claim.from))
      if (claim.from !== this.id && this.confirms(claim.id, n)) this.prober.prioritize(claim.id, now)
    }
    if (alive && (current === undefined || current.status === 'dead' || current.status === 'left')) this.prober.insert(claim.id, now)
    if (alive && (current === undefined || current.status !== 'alive')) this.prober.heardAlive(claim.id, now)
    if (claim.status === 'dead' || claim.status === 'left') {
      const timeout = this.reapTimeout(claim.status)
      this.nextReapAt = Math.min(this.nextReapAt, now + timeout)
    }
    // Gossip already reached everyone; push-pull news is republished only where
    // someone must act on it: a joiner's own entry and suspicions (so the
    // accused hears and refutes).
    const fromPushPull = origin.kind === 'push-pull'
    if (origin.kind === 'local' || (fromPushPull && ((origin.join && claim.id === origin.peer) || claim.status === 'suspect'))) {
      this.outbox.enqueuePublish(toGossip(next, origin.kind === 'local' ? this.id : claim.from))
    }
    if (claim.status === 'suspect' && fromPushPull) {
      this.reply(claim.id, { type: 'suspect', id: claim.id, incarnation: claim.incarnation, from: claim.from })
    }
  }

  private mergeAboutSelf (claim: IncomingClaim, now: number): void {
    const me = this.self()
    const refute = claim.status === 'alive' ? claim.incarnation > me.incarnation : claim.incarnation >= me.incarnation
    if (!refute) return
    if (claim.status !== 'alive') this.awareness.apply(1)
    this.raiseIncarnation(claim.incarnation + 1, now, me.addrs, me.meta)
    if (claim.from !== this.id) this.reply(claim.from, toGossip(this.self(), this.id))
  }

  private raiseIncarnation (incarnation: number, now: number, addrs: readonly string[], meta: Uint8Array): void {
    this.outbox.persist(incarnation)
    this.setEntry({ id: this.id, incarnation, status: 'alive', addrs: [...addrs], meta }, now)
    this.publishSelf()
  }

  private reap (now: number): void {
    let next = Infinity
    for (const [id, since] of [...this.table.downMembers()]) {
      const e = this.table.get(id) as MemberEntry
      const timeout = this.reapTimeout(e.status)
      const due = since + timeout
      if (due <= now) {
        this.table.delete(id)
        this.reaped.add(id, e, now, timeout)
        this.cachedChecksum = undefined
        this.repair.forget(id)
        this.outbox.enqueueEvent({ kind: 'reap', member: e, previous: e.status, at: now })
      } else {
        next = Math.min(next, due)
      }
    }
    this.nextReapAt = next
  }

  // ------------------------------------------------------------- helpers

  private setEntry (entry: MemberEntry, now: number): void {
    const before = this.table.set(entry, now)
    this.cachedChecksum = undefined
    if (liveIncarnation(before) !== liveIncarnation(entry)) {
      this.cachedDigest = undefined
      this.repair.changed(now)
    }
    const kind = transitionEvent(before, entry)
    if (kind !== undefined) this.outbox.enqueueEvent({ kind, member: entry, ...(before !== undefined ? { previous: before.status } : {}), at: now })
  }

  /** How long a dead or left member stays in the view (and, once reaped, in ReapedMembers). */
  private reapTimeout (status: MemberStatus): number {
    return status === 'dead' ? this.cfg.deadReapTimeout : this.cfg.leftReapTimeout
  }

  private self (): MemberEntry { return this.table.get(this.id) as MemberEntry }

  private publishSelf (): void { this.outbox.enqueuePublish(toGossip(this.self(), this.id)) }

  private reply (to: string, msg: MembershipMessage, reliable = false): void { this.outbox.enqueueSend(to, this.addrsOf(to), msg, reliable) }

  private addrsOf (id: string): readonly string[] { return this.table.get(id)?.addrs ?? [] }

  private snapshot (): MemberEntry[] { return [...this.table.values()] }

  private assertActive (): void {
    if (this.left) throw new MembershipError('left', 'this node has left the cluster')
  }
}

function claimOf (msg: GossipMessage): IncomingClaim {
  return msg.type === 'alive'
    ? { id: msg.id, incarnation: msg.incarnation, status: 'alive', addrs: msg.addrs, meta: msg.meta, from: msg.from }
    : { id: msg.id, incarnation: msg.incarnation, status: msg.type, from: msg.from }
}

function toGossip (e: MemberEntry, from: string): GossipMessage {
  if (e.status === 'alive') return { type: 'alive', id: e.id, incarnation: e.incarnation, addrs: e.addrs, meta: e.meta, from }
  return { type: e.status, id: e.id, incarnation: e.incarnation, from }
}

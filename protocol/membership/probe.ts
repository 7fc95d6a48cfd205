// Failure detection by probing (SWIM with Lifeguard's nacks and awareness).
//
// Scheduling: one probe per period, round-robin over a shuffled list of the
// members this node observes (observers.ts: its k successors on a hashed ring, or
// everyone when probeObservers is 0), re-shuffled every round; an observed member
// added mid-round goes to a random position so it is probed within about one
// round. Ids that stop being probe-able (dead, left, reaped) are skipped lazily.
// Suspicion-directed probes (see config.suspicionProbeFanout) jump the queue.
// A member the shell is still dialling is passed over (it keeps its turn later in
// the round) for at most probeDeferLimit, so a probe times the member, not a
// handshake.
//
// One probe: ping; no ack within probeTimeout × (awareness+1) → ping-req to k
// helpers and, with fallbackPing, the same ping again over the reliable channel;
// no ack by the end of the period → the host suspects the target.
// Helpers relay the target's ack, or answer nack at nackRatio of their timeout.

import type { Awareness } from './awareness.js'
import { lateTickSlack, type ResolvedConfig } from './config.js'
import type { MemberTable } from './state.js'
import type { MembershipMessage } from './types.js'
import { ringNeighbours } from './observers.js'

export class ProbeOrder {
  private list: string[] = []
  private index = 0
  private readonly urgent: string[] = []

  constructor (private readonly random: () => number) {}

  /** Next member to probe, or undefined when nobody is probe-able. */
  next (probeable: (id: string) => boolean, candidates: () => string[]): string | undefined {
    while (this.urgent.length > 0) {
      const id = this.urgent.shift() as string
      if (probeable(id)) return id
    }
    for (let pass = 0; pass < 2; pass++) {
      while (this.index < this.list.length) {
        const id = this.list[this.index++]
        if (probeable(id)) return id
      }
      this.list = shuffle(candidates(), this.random)
      this.index = 0
    }
    return undefined
  }

  /** A member became probe-able: place it at a random position of the current round. */
  insert (id: string): void {
    const at = this.index + Math.floor(this.random() * (this.list.length - this.index + 1))
    this.list.splice(at, 0, id)
  }

  /** Probe this member before the round-robin continues (once). */
  prioritize (id: string): void {
    if (!this.urgent.includes(id)) this.urgent.push(id)
  }
}

/** Fisher–Yates with the injected random source. */
export function shuffle<T> (items: T[], random: () => number): T[] {
  for (let i = items.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1))
    const t = items[i]
    items[i] = items[j]
    items[j] = t
  }
  return items
}

/** Our own probe of `target`, from the direct ping to the end of the indirect window. */
interface ProbeInFlight {
  readonly target: string
  readonly incarnation: number
  readonly seq: number
  readonly sentAt: number
  readonly directDeadline: number
  indirectDeadline: number
  phase: 'direct' | 'indirect'
  /** Already postponed once because the tick came late. */
  graced: boolean
  helpers: string[]
  readonly nacks: Set<string>
}

/** A ping we send on behalf of `origin` (ping-req); answered with ack, or nack at `nackAt`. */
interface Relay {
  readonly origin: string
  readonly originSeq: number
  readonly target: string
  readonly nackAt: number
  /** The ping-req came over the reliable channel, so the answer goes back that way. */
  readonly reliable: boolean
}

/** What the prober needs from the membership core. */
export interface ProberHost {
  readonly id: string
  readonly cfg: ResolvedConfig
  readonly random: () => number
  readonly table: MemberTable
  readonly awareness: Awareness
  nextSeq: () => number
  /** `reliable`: over the reliable channel, never as a datagram (Outgoing.reliable). */
  send: (to: string, addrs: readonly string[], msg: MembershipMessage, reliable?: boolean) => void
  /**
   * Our probe of `target` (at `incarnation`) failed, direct and indirect.
   * `evidence`: this node's health score before this failure counted against it, and
   * whether helpers were asked and none of them nacked (so nothing shows that our
   * own links work).
   */
  probeFailed: (target: string, incarnation: number, now: number, evidence: ProbeFailureEvidence) => void
  /** A connection to `id` is being set up (see MembershipOptions.linkPending). */
  linkPending?: (id: string) => boolean
}

/** What a failed probe says about the prober's own health (see Membership.spareAccusation). */
export interface ProbeFailureEvidence {
  awarenessBefore: number
  noNacks: boolean
}

export class Prober {
  private readonly order: ProbeOrder
  private probe: ProbeInFlight | undefined
  private readonly relays = new Map<number, Relay>()
  private nextProbeAt: number
  /**
   * Nobody to probe: no tick is due until a member is inserted or prioritized. A
   * lone agent (the first of a cluster, or the last one up) otherwise woke for
   * nothing every period, and on a VM a wake-up costs more than the tick's work.
   */
  private idle = false
  private ringCache: { version: number, successors: string[], predecessors: string[], neighbours: string[] } | undefined
  /** Members passed over because a dial to them was under way, and since when. */
  private readonly deferredSince = new Map<string, number>()
  /** Members heard alive at a new incarnation, and when (see probeGraceAfterAlive). */
  private readonly aliveAt = new Map<string, number>()

  constructor (private readonly host: ProberHost, now: number) {
    this.order = new ProbeOrder(host.random)
    // A random phase, so nodes started together do not probe in lockstep.
    this.nextProbeAt = now + host.random() * host.cfg.probeInterval
  }

  /** A member became probe-able; it joins the current round if this node observes it. */
  insert (id: string, now: number): void {
    if (!this.ring().successors.includes(id)) return
    this.order.insert(id)
    this.wake(now)
  }

  prioritize (id: string, now: number): void {
    this.order.prioritize(id)
    this.wake(now)
  }

  /** Resumes probing after a stretch with nobody to probe (see startProbe), at a random phase again. */
  private wake (now: number): void {
    if (this.idle) {
      this.idle = false
      this.nextProbeAt = now + this.host.random() * this.host.cfg.probeInterval
    }
  }

  /** `id` was just heard alive at a new incarnation (joined, or refuted): not probed for probeGraceAfterAlive. */
  heardAlive (id: string, now: number): void {
    if (this.host.cfg.probeGraceAfterAlive > 0) this.aliveAt.set(id, now)
  }

  stop (): void {
    this.probe = undefined
    this.relays.clear()
    this.idle = false
    this.nextProbeAt = Infinity
  }

  nextDeadline (): number {
    let t = this.probe === undefined ? this.nextProbeAt : this.probe.phase === 'direct' ? this.probe.directDeadline : this.probe.indirectDeadline
    for (const r of this.relays.values()) t = Math.min(t, r.nackAt)
    return t
  }

  /** Handles an ack for our probe or a relay; false if the seq is not ours. */
  onAck (from: string, seq: number): boolean {
    const p = this.probe
    if (p !== undefined && p.seq === seq && (from === p.target || p.helpers.includes(from))) {
      this.probe = undefined
      this.host.awareness.apply(-1)
      return true
    }
    const r = this.relays.get(seq)
    if (r !== undefined && from === r.target) {
      this.relays.delete(seq)
      this.reply(r.origin, { type: 'ack', seq: r.originSeq }, r.reliable)
      return true
    }
    return false
  }

  onNack (from: string, seq: number): void {
    if (this.probe?.seq === seq && this.probe.helpers.includes(from)) this.probe.nacks.add(from)
  }

  /** Pings `target` for `from`; the answer goes back under `originSeq`, the way the request came (`reliable`). */
  onPingReq (from: string, originSeq: number, target: string, targetAddrs: readonly string[], now: number, reliable = false): void {
    const h = this.host
    if (target === h.id) {
      this.reply(from, { type: 'ack', seq: originSeq }, reliable)
      return
    }
    const seq = h.nextSeq()
    this.relays.set(seq, { origin: from, originSeq, target, nackAt: now + h.awareness.scale(h.cfg.probeTimeout) * h.cfg.nackRatio, reliable })
    const known = h.table.get(target)?.addrs ?? []
    h.send(target, known.length > 0 ? known : targetAddrs, { type: 'ping', seq })
  }

  tick (now: number): void {
    const h = this.host
    for (const [seq, r] of this.relays) {
      if (r.nackAt <= now) {
        this.relays.delete(seq)
        this.reply(r.origin, { type: 'nack', seq: r.originSeq }, r.reliable)
      }
    }
    const p = this.probe
    if (p !== undefined && p.phase === 'direct' && now >= p.directDeadline) {
      const target = h.table.get(p.target)
      const helpers = this.helpersFor(p.target)
      p.phase = 'indirect'
      p.helpers = helpers.map(x => x.id)
      // A late tick (stalled event loop) still gets a full indirect window.
      p.indirectDeadline = Math.max(p.indirectDeadline, now + h.awareness.scale(h.cfg.probeInterval - h.cfg.probeTimeout))
      for (const x of helpers) h.send(x.id, x.addrs, { type: 'ping-req', seq: p.seq, target: p.target, targetAddrs: target?.addrs ?? [] })
      // Same seq: an ack that comes back this way ends the probe like the first one would.
      if (h.cfg.fallbackPing && target !== undefined) h.send(p.target, target.addrs, { type: 'ping', seq: p.seq }, true)
    }
    if (p !== undefined && p.phase === 'indirect' && now >= p.indirectDeadline && !p.graced && now - p.indirectDeadline > lateTickSlack(h.cfg)) {
      // Woken late: our own event loop stalled and acks may sit unread behind this
      // timer (timers run before I/O); conclude one short grace later instead.
      p.graced = true
      p.indirectDeadline = now + h.cfg.probeTimeout
    }
    if (p !== undefined && p.phase === 'indirect' && now >= p.indirectDeadline) {
      this.probe = undefined
      const evidence = { awarenessBefore: h.awareness.score(), noNacks: p.helpers.length > 0 && p.nacks.size === 0 }
      // Lifeguard: missing nacks mean our own links are suspect; with no helpers, any failure counts.
      h.awareness.apply(p.helpers.length > 0 ? p.helpers.length - p.nacks.size : 1)
      h.probeFailed(p.target, p.incarnation, now, evidence)
    }
    if (this.probe === undefined && now >= this.nextProbeAt) this.startProbe(now)
  }

  private startProbe (now: number): void {
    const h = this.host
    this.nextProbeAt = now + h.awareness.scale(h.cfg.probeInterval)
    if (this.deferredSince.size > 4 * Math.max(8, this.host.cfg.probeObservers)) this.deferredSince.clear() // bound it; an entry only delays a probe
    const grace = h.cfg.probeGraceAfterAlive
    for (const [id, at] of this.aliveAt) if (now - at >= grace) this.aliveAt.delete(id)
    const passed = new Set<string>()
    const target = this.order.next(id => {
      if (!this.probeable(id)) return false
      if (this.aliveAt.has(id) || this.deferred(id, now)) { passed.add(id); return false }
      return true
    }, () => this.observed())
    // Passed over, not skipped: each keeps a turn later in this round.
    for (const id of passed) this.order.insert(id)
    if (target === undefined && passed.size === 0 && this.observed().length === 0) {
      this.idle = true
      this.nextProbeAt = Infinity
    }
    if (target === undefined) return
    const e = h.table.get(target)
    if (e === undefined) return
    const seq = h.nextSeq()
    this.probe = {
      target,
      incarnation: e.incarnation,
      seq,
      sentAt: now,
      directDeadline: now + h.awareness.scale(h.cfg.probeTimeout),
      indirectDeadline: this.nextProbeAt,
      phase: 'direct',
      graced: false,
      helpers: [],
      nacks: new Set()
    }
    h.send(target, e.addrs, { type: 'ping', seq })
  }

  /** Whether to pass over `id` this period because its connection is still being set up. */
  private deferred (id: string, now: number): boolean {
    if (this.host.linkPending?.(id) !== true) {
      this.deferredSince.delete(id)
      return false
    }
    const since = this.deferredSince.get(id)
    if (since === undefined) {
      this.deferredSince.set(id, now)
      return true
    }
    if (now - since < this.host.cfg.probeDeferLimit) return true
    // Waited long enough: probe it, dial and all (a member that cannot be reached must still be suspected).
    this.deferredSince.delete(id)
    return false
  }

  /** Whether this node probes `id` in its round-robin (one of its ring successors). */
  observes (id: string): boolean {
    return this.ring().successors.includes(id)
  }

  private probeable (id: string): boolean {
    const e = this.host.table.get(id)
    return id !== this.host.id && e !== undefined && (e.status === 'alive' || e.status === 'suspect')
  }

  private probeableIds (): string[] {
    const out: string[] = []
    for (const e of this.host.table.values()) if (this.probeable(e.id)) out.push(e.id)
    return out
  }

  /** Probe-able members on both sides of this node's ring position (everyone when probeObservers is 0). */
  neighbours (): string[] {
    return [...this.ring().neighbours] // a copy: callers shuffle in place
  }

  /** The members that observe this node (its ring predecessors; everyone when probeObservers is 0). */
  observers (): string[] {
    return [...this.ring().predecessors]
  }

  /** The members this node observes in the current view (everyone when probeObservers is 0). */
  observed (): string[] {
    return [...this.ring().successors]
  }

  /**
   * This node's place on the ring, recomputed only when the live member set changed
   * (a sort of all members: at N = 2000, per join event per node, it dominated).
   */
  private ring (): { successors: string[], predecessors: string[], neighbours: string[] } {
    const version = this.host.table.liveVersion
    if (this.ringCache?.version === version) return this.ringCache
    const { successors, predecessors } = ringNeighbours(this.host.id, this.probeableIds(), this.host.cfg.probeObservers)
    this.ringCache = { version, successors, predecessors, neighbours: [...new Set([...successors, ...predecessors])] }
    return this.ringCache
  }

  /**
   * Helpers for an indirect probe: alive members this node observes first, in a
   * random order (we talk to them already, and the ones before the target on the
   * ring observe it too), then random alive members for the rest.
   */
  private helpersFor (target: string): Array<{ id: string, addrs: readonly string[] }> {
    const h = this.host
    const want = h.cfg.indirectChecks
    const picked: Array<{ id: string, addrs: readonly string[] }> = []
    if (want === 0) return picked
    for (const id of shuffle(this.observed(), h.random)) {
      const e = h.table.get(id)
      if (picked.length < want && e !== undefined && e.status === 'alive' && id !== target) picked.push({ id, addrs: e.addrs })
    }
    if (picked.length < want) {
      const taken = new Set(picked.map(x => x.id))
      for (const e of h.table.sample(want - picked.length, x => x.status === 'alive' && x.id !== h.id && x.id !== target && !taken.has(x.id), h.random)) picked.push({ id: e.id, addrs: e.addrs })
    }
    return picked
  }

  private reply (to: string, msg: MembershipMessage, reliable = false): void {
    this.host.send(to, this.host.table.get(to)?.addrs ?? [], msg, reliable)
  }
}

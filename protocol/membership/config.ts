// Tunables of the membership core, each with its formula and the arithmetic behind
// the default. All durations are milliseconds of the injected clock.
//
// Failure-detection budget (design.md §8: kill -9 → every survivor marks it failed
// in ≤ 3 s at N ≈ 50, no false positives on a loaded 2-core box), with T = probeInterval:
//   first probe of the dead node      ≈ T … 2T      (k observers, each probing it every k periods, random phase)
//   that probe fails (direct+indirect) = T          (indirect window ends with the period)
//   suspicion at the first suspector  = suspicionMinTimeout once k confirmations arrive;
//     confirmations come from suspicion-directed probes within ≈ 2T of the first suspect
//   dead gossip reaches everyone      ≈ 0.1 s       (gossipsub at N = 50, notes/libp2p.md)
// With T = 200 ms, suspicionMult = 5: min = 5 × log10(50) × 0.2 s = 1.70 s, so the
// total is ≈ 0.2…0.4 + 0.2 + 1.70 + 0.1 ≈ 2.2…2.4 s, leaving ~0.6 s of slack for load.
// It was 4 (1.36 s): a seed admitting a 50-agent herd on two cores needed 1.3–1.4 s
// to get its refutation to the others, and was declared failed in most herds.
// A false positive needs the live suspect to stay silent (it is told directly and
// refutes at once) for at least the min timeout AND k other nodes to fail their
// own probes; without those confirmations the timeout stays near max = 4 × min.

/** See MembershipConfig.suspicionConfirmations. */
export const DEFAULT_SUSPICION_CONFIRMATIONS = 2

/** Every knob of the core. `resolveConfig` fills defaults and validates. */
export interface MembershipConfig {
  /** T: one probe per period. Stretched by the awareness multiplier (Lifeguard LHA-probe). Default 200. */
  readonly probeInterval: number
  /** Wait for a direct ack before asking helpers; also the helper's own ping timeout. Stretched by awareness. Must be ≤ T/2 so the indirect window (T − timeout) is at least as long. Default 100. */
  readonly probeTimeout: number
  /**
   * Members each node probes round-robin: its k successors on a ring hashed by id
   * (observers.ts), so every member has k observers and a node needs about 2k
   * probe connections instead of N − 1. 0 probes everyone (classic SWIM). The probe
   * rate each member sees is one per period either way. Default 8.
   */
  readonly probeObservers: number
  /** k helpers asked to `ping-req` the target after a missed direct ack (SWIM). Default 3. */
  readonly indirectChecks: number
  /** Helper sends `nack` at this fraction of its probe timeout if the target stays silent (Lifeguard). Default 0.8. */
  readonly nackRatio: number
  /**
   * When the direct ack is late, also ping the target once more over the reliable
   * channel (Outgoing.reliable), alongside the helpers' ping-reqs, as memberlist's
   * TCP fallback ping does. Where probes travel as datagrams, a firewall that drops
   * them (or drops one direction) otherwise makes every probe of a live member
   * fail, and the cluster lives on suspicions and refutations. Default true.
   */
  readonly fallbackPing: boolean
  /** Awareness score range is [0, max−1]; timeouts are multiplied by score+1 (memberlist: 8). Default 8. */
  readonly awarenessMaxMultiplier: number
  /**
   * A tick that comes more than lateTickSlack after the work it was set for raises
   * awareness by one, at most once per probe period (our addition to Lifeguard,
   * whose signals are all about messages). A starved process cannot time probes: on
   * two cores shared by 50 agents the probers were the slow side as often as the
   * probed. Default true.
   */
  readonly awarenessOnLateTicks: boolean
  /**
   * A failed probe is not turned into a suspicion when this node cannot trust its
   * own probes (our addition to Lifeguard, whose awareness only slows such a node's
   * probing): its event loop ran late (a tick more than lateTickSlack after its
   * time) within this many ms, or it was already unhealthy (awareness above 0) and
   * none of the helpers it asked nacked. Its missed acks then say more about it
   * than about the target, and on two cores shared by 50 agents those suspicions
   * fed the overload. The target keeps its turn in the round. A helper's nack
   * proves our links work, so a partitioned node still accuses. 0 disables both
   * conditions. Default 1000 (5 T).
   */
  readonly accuseHoldAfterStall: number
  /** The longest an accusation is held back that way; then it is made anyway, so an isolated node still suspects. Default 5000. */
  readonly accuseDeferLimit: number
  /** suspicionMinTimeout = suspicionMult × max(1, log10(n)) × T, n = alive+suspect members incl. self. Default 5. */
  readonly suspicionMult: number
  /** suspicionMaxTimeout = suspicionMaxTimeoutMult × suspicionMinTimeout (Lifeguard α). Default 4. */
  readonly suspicionMaxTimeoutMult: number
  /**
   * A suspicion raised while m others are open gets min and max timeouts
   * × min(1 + m, this) (our addition). Many members suspected at once is far likelier
   * to be overload (every process waiting for CPU) or a partition than many
   * simultaneous crashes, and in overload refutations come late: on two cores with 50
   * agents a refutation took 1.6 s (median; 4.8 s when the verdict came first),
   * and each wrongful death added the gossip, dials and refutation that starved the
   * next one. A single failure (nothing else suspected) keeps the plain timeouts.
   * 1 disables. Default 4.
   */
  readonly suspicionCrowdMaxStretch: number
  /**
   * Independent confirmations that shrink the timeout to its min, or 0 when n − 2 < k.
   * Default 2: memberlist derives suspicionMult − 2, which was 2 at our former
   * multiplier of 4; at 5 it would be 3, and a 5-node cluster would need every
   * survivor to confirm before the timeout shrinks.
   */
  readonly suspicionConfirmations?: number
  /**
   * On hearing a new suspicion of X, X's other observers probe it next, so the
   * confirmations (or the refutation) arrive within ~2T instead of after a round
   * of k periods. When probing everyone (probeObservers 0) there are no observers:
   * each node probes X next with probability min(1, suspicionProbeFanout / (n − 2)),
   * so about this many do. Default 3 (≥ k, with slack for loss).
   */
  readonly suspicionProbeFanout: number
  /**
   * How long a member may be passed over because the shell is still dialling it
   * (MembershipOptions.linkPending); after that it is probed, dial and all, so an
   * unreachable member is still suspected. Default 2000 (10 T).
   */
  readonly probeDeferLimit: number
  /**
   * A member just heard alive at a new incarnation (it joined, or refuted a
   * suspicion or a death) is not probed for this long: the claim is fresher
   * evidence than a probe, and such a member is the likeliest to be busy (a cold
   * start, or the overload that got it suspected). Probing it at once turned one
   * slow start into a death, its refutation into the next probe, and so on: in a
   * 50-agent rolling start on two cores the verdicts fed on themselves for minutes.
   * The cost: a member that dies within this long of joining or refuting is
   * detected this much later. 0 disables. Default 3000 (15 T).
   */
  readonly probeGraceAfterAlive: number
  /**
   * Base anti-entropy period. Effective interval = base × scale(n) with
   * scale(n) = 1 for n ≤ pushPullScaleThreshold, else ceil(log2(n) − log2(threshold)) + 1
   * (memberlist's pushPullScale): 15 s at 50 nodes → 30 s, 500 → 75 s, 2000 → 105 s.
   * Each period is jittered uniformly in [0.5, 1.5) × interval. Default 15 000.
   */
  readonly pushPullInterval: number
  /** See pushPullInterval. Default 32. */
  readonly pushPullScaleThreshold: number
  /**
   * Digest repair (digest-repair.ts): an ack carries the responder's live digest
   * (checksum.ts), and when it and ours have both stayed unchanged for this long yet
   * differ, the prober push-pulls with the responder at once. It catches a member that gossip missed
   * within a few probe rounds of the cluster going quiet, not a push-pull period
   * later. 0 disables. Default 1000 (5 T).
   */
  readonly digestSettle: number
  /** At most one digest repair per this long. Default 2000. */
  readonly digestRepairInterval: number
  /**
   * After join(), push-pull at each of these delays (ms after the call): the first
   * with the seed, the others with another alive neighbour. Catches up on updates
   * published while this node was not yet in the gossipsub mesh (grafting waits for
   * a heartbeat, up to ~1 s), so concurrent joiners find each other without waiting
   * a full push-pull period.
   * Default [250, 1000, 3000].
   */
  readonly joinFollowUps: readonly number[]
  /**
   * Every this long (jittered like push-pull) push-pull with one random dead-but-not-left
   * member, so a partition longer than the suspicion timeout still heals (its side
   * refutes on seeing itself dead). Default 5 000.
   */
  readonly deadReconnectInterval: number
  /** Forget a dead member this long after it was declared dead. Default 3 600 000 (1 h). */
  readonly deadReapTimeout: number
  /** Forget a left member (tombstone) this long after it left. Default 3 600 000 (1 h). */
  readonly leftReapTimeout: number
}

export const DEFAULT_CONFIG: Readonly<Required<Omit<MembershipConfig, 'suspicionConfirmations'>>> = {
  probeInterval: 200,
  probeTimeout: 100,
  probeObservers: 8,
  indirectChecks: 3,
  nackRatio: 0.8,
  fallbackPing: true,
  awarenessMaxMultiplier: 8,
  awarenessOnLateTicks: true,
  accuseHoldAfterStall: 1_000,
  accuseDeferLimit: 5_000,
  suspicionMult: 5,
  suspicionMaxTimeoutMult: 4,
  suspicionCrowdMaxStretch: 4,
  suspicionProbeFanout: 3,
  probeDeferLimit: 2_000,
  probeGraceAfterAlive: 3_000,
  pushPullInterval: 15_000,
  pushPullScaleThreshold: 32,
  digestSettle: 1_000,
  digestRepairInterval: 2_000,
  joinFollowUps: [250, 1000, 3000],
  deadReconnectInterval: 5_000,
  deadReapTimeout: 3_600_000,
  leftReapTimeout: 3_600_000
}

export type ResolvedConfig = Required<MembershipConfig>

/** Thrown for an invalid configuration; `field` names the offending key. */
export class ConfigError extends Error {
  readonly code = 'invalid-config'
  constructor (readonly field: string, message: string) {
    super(`membership config ${field}: ${message}`)
    this.name = 'ConfigError'
  }
}

function nonNegative (field: string, v: unknown): number {
  if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) throw new ConfigError(field, `must be a non-negative number, got ${String(v)}`)
  return v
}

function positive (field: string, v: unknown, integer = false): number {
  if (typeof v !== 'number' || !Number.isFinite(v) || v <= 0 || (integer && !Number.isInteger(v))) {
    throw new ConfigError(field, `must be a positive ${integer ? 'integer' : 'number'}, got ${String(v)}`)
  }
  return v
}

/** Fills defaults and validates; throws ConfigError on the first bad field. */
export function resolveConfig (partial: Partial<MembershipConfig> = {}): ResolvedConfig {
  // An explicit `undefined` means "use the default", as an absent key does.
  const given = Object.fromEntries(Object.entries(partial).filter(([, v]) => v !== undefined)) as Partial<MembershipConfig>
  const c = { ...DEFAULT_CONFIG, ...given }
  positive('probeInterval', c.probeInterval)
  positive('probeTimeout', c.probeTimeout)
  if (c.probeTimeout * 2 > c.probeInterval) throw new ConfigError('probeTimeout', 'must be at most half of probeInterval (the rest is the indirect window)')
  if (!Number.isInteger(c.indirectChecks) || c.indirectChecks < 0) throw new ConfigError('indirectChecks', 'must be a non-negative integer')
  if (!Number.isInteger(c.probeObservers) || c.probeObservers < 0) throw new ConfigError('probeObservers', 'must be a non-negative integer (0: probe everyone)')
  positive('nackRatio', c.nackRatio)
  if (c.nackRatio >= 1) throw new ConfigError('nackRatio', 'must be below 1')
  positive('awarenessMaxMultiplier', c.awarenessMaxMultiplier, true)
  if (typeof c.fallbackPing !== 'boolean') throw new ConfigError('fallbackPing', 'must be true or false')
  if (typeof c.awarenessOnLateTicks !== 'boolean') throw new ConfigError('awarenessOnLateTicks', 'must be true or false')
  nonNegative('accuseHoldAfterStall', c.accuseHoldAfterStall)
  nonNegative('accuseDeferLimit', c.accuseDeferLimit)
  positive('suspicionMult', c.suspicionMult)
  positive('suspicionMaxTimeoutMult', c.suspicionMaxTimeoutMult)
  if (c.suspicionMaxTimeoutMult < 1) throw new ConfigError('suspicionMaxTimeoutMult', 'must be at least 1')
  positive('suspicionCrowdMaxStretch', c.suspicionCrowdMaxStretch)
  if (c.suspicionCrowdMaxStretch < 1) throw new ConfigError('suspicionCrowdMaxStretch', 'must be at least 1 (1: no stretch)')
  const confirmations = given.suspicionConfirmations ?? DEFAULT_SUSPICION_CONFIRMATIONS
  if (!Number.isInteger(confirmations) || confirmations < 0) throw new ConfigError('suspicionConfirmations', 'must be a non-negative integer')
  if (typeof c.suspicionProbeFanout !== 'number' || !(c.suspicionProbeFanout >= 0)) throw new ConfigError('suspicionProbeFanout', 'must be a non-negative number')
  nonNegative('probeDeferLimit', c.probeDeferLimit)
  nonNegative('probeGraceAfterAlive', c.probeGraceAfterAlive)
  positive('pushPullInterval', c.pushPullInterval)
  positive('pushPullScaleThreshold', c.pushPullScaleThreshold, true)
  nonNegative('digestSettle', c.digestSettle)
  positive('digestRepairInterval', c.digestRepairInterval)
  if (!Array.isArray(c.joinFollowUps) || c.joinFollowUps.length > 16 || !c.joinFollowUps.every(d => typeof d === 'number' && Number.isFinite(d) && d >= 0)) {
    throw new ConfigError('joinFollowUps', 'must be at most 16 non-negative delays')
  }
  positive('deadReconnectInterval', c.deadReconnectInterval)
  positive('deadReapTimeout', c.deadReapTimeout)
  positive('leftReapTimeout', c.leftReapTimeout)
  return { ...c, joinFollowUps: [...c.joinFollowUps].sort((a, b) => a - b), suspicionConfirmations: confirmations }
}

/** suspicionMinTimeout for n live members (see MembershipConfig.suspicionMult). */
export function suspicionMinTimeout (c: ResolvedConfig, n: number): number {
  return c.suspicionMult * Math.max(1, Math.log10(Math.max(1, n))) * c.probeInterval
}

/** Timeout multiplier of a suspicion raised while `open` others are open (see suspicionCrowdMaxStretch). */
export function suspicionCrowdStretch (c: ResolvedConfig, open: number): number {
  return Math.min(c.suspicionCrowdMaxStretch, 1 + open)
}

/** Confirmations needed to reach the min timeout for n live members. */
export function suspicionConfirmationsFor (c: ResolvedConfig, n: number): number {
  const k = c.suspicionConfirmations
  return n - 2 < k ? 0 : k
}

/** Anti-entropy period for n members before jitter (see MembershipConfig.pushPullInterval). */
export function pushPullPeriod (c: ResolvedConfig, n: number): number {
  if (n <= c.pushPullScaleThreshold) return c.pushPullInterval
  return c.pushPullInterval * (Math.ceil(Math.log2(n) - Math.log2(c.pushPullScaleThreshold)) + 1)
}

/**
 * How late a tick may come before the core assumes its own event loop stalled
 * (probeTimeout / 2). A verdict due that late (probe failure, suspicion expiry) is
 * postponed once by probeTimeout, because after a stall timers run before the
 * queued I/O that may hold the awaited ack or refutation.
 */
export function lateTickSlack (c: ResolvedConfig): number {
  return c.probeTimeout / 2
}

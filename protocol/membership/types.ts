// Shared shapes of the membership core: member entries and the messages it
// exchanges. The wire codec (protocol/wire) validates bytes into these types.

/** Ordered so that, at equal incarnation, a later status overrides an earlier one. */
export type MemberStatus = 'alive' | 'suspect' | 'dead' | 'left'

export const STATUS_RANK: Readonly<Record<MemberStatus, number>> = { alive: 0, suspect: 1, dead: 2, left: 3 }

/** One member as every node gossips it. `meta` is opaque to the core (the agent defines it). */
export interface MemberEntry {
  readonly id: string
  readonly incarnation: number
  readonly status: MemberStatus
  readonly addrs: readonly string[]
  readonly meta: Uint8Array
}

/** What a node publishes about itself (the core adds incarnation and status). */
export interface SelfDescription {
  readonly id: string
  readonly addrs: readonly string[]
  readonly meta: Uint8Array
}

// ---- direct messages (probe protocol, one request/response per stream) ----

/** Direct probe. Answered by `ack` with the same seq. */
export interface PingMessage { readonly type: 'ping', readonly seq: number }
/**
 * Answer to `ping`, or to `ping-req` once the target answered the helper. A direct
 * answer to a ping carries the responder's membership checksum (`sum`, 16 hex
 * digits), which lets the prober notice views that stopped converging (digest-repair.ts).
 */
export interface AckMessage { readonly type: 'ack', readonly seq: number, readonly sum?: string }
/** Lifeguard: a helper's answer to `ping-req` when the target did not answer in time. */
export interface NackMessage { readonly type: 'nack', readonly seq: number }
/** Ask the receiver to ping `target` on our behalf; `targetAddrs` lets it dial a peer it does not know yet. */
export interface PingReqMessage {
  readonly type: 'ping-req'
  readonly seq: number
  readonly target: string
  readonly targetAddrs: readonly string[]
}

// ---- gossip updates (published once on the membership topic; also sent directly) ----

export interface AliveMessage {
  readonly type: 'alive'
  readonly id: string
  readonly incarnation: number
  readonly addrs: readonly string[]
  readonly meta: Uint8Array
  readonly from: string
}
export interface SuspectMessage { readonly type: 'suspect', readonly id: string, readonly incarnation: number, readonly from: string }
export interface DeadMessage { readonly type: 'dead', readonly id: string, readonly incarnation: number, readonly from: string }
export interface LeftMessage { readonly type: 'left', readonly id: string, readonly incarnation: number, readonly from: string }

// ---- anti-entropy (sync protocol, request/response) ----

/** Full-state exchange. A request has `reply: false`; the answer echoes `seq` with `reply: true`. */
export interface PushPullMessage {
  readonly type: 'push-pull'
  readonly seq: number
  readonly join: boolean
  readonly reply: boolean
  readonly entries: readonly MemberEntry[]
}

export type GossipMessage = AliveMessage | SuspectMessage | DeadMessage | LeftMessage
export type ProbeMessage = PingMessage | AckMessage | NackMessage | PingReqMessage
export type MembershipMessage = ProbeMessage | GossipMessage | PushPullMessage
export type MembershipMessageType = MembershipMessage['type']

export const GOSSIP_TYPES: readonly GossipMessage['type'][] = ['alive', 'suspect', 'dead', 'left']
export const PROBE_TYPES: readonly ProbeMessage['type'][] = ['ping', 'ack', 'nack', 'ping-req']

/** A message the shell must deliver to one peer (probe stream for probes/updates, sync stream for push-pull). */
export interface Outbound {
  readonly to: string
  readonly msg: MembershipMessage
}

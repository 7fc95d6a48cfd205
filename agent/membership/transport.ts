// Membership's network: the gossip topic ringleader/members/1 (StrictSign, every
// message decoded and checked in the topic validator), and two stream protocols,
// /ringleader/probe/1.0.0 (ping, ack, nack, ping-req, direct updates) and
// /ringleader/sync/1.0.0 (push-pull).
//
// Probe-channel messages travel like memberlist's UDP packets: as signed UDP
// datagrams to members that advertise a UDP address (probe-datagrams.ts), else fire
// and forget on one long-lived stream per peer (net/message-channel.ts), because a
// stream per ping cost most of an idle agent's CPU. A push-pull is a request of its own with an
// empty receipt. Replies (ack/nack, the push-pull reply) travel as messages of their
// own back to the asker, so no handler ever holds a stream open while the core waits
// on a timer, and a SIGSTOPped peer ties up nothing but a bounded queue.
import { peerIdFromString } from '@libp2p/peer-id'
import { multiaddr, type Multiaddr } from '@multiformats/multiaddr'
import type { PeerId } from '@libp2p/interface'
import type { GossipMessage, MembershipMessage, Outgoing } from '../../protocol/membership/index.js'
import {
  channelOf, decodeMembershipMessage, encodeMembershipMessage, MAX_GOSSIP_BYTES, MAX_PROBE_BYTES, MAX_SYNC_BYTES,
  WireError, type MembershipChannel
} from '../../protocol/wire/index.js'
import { decodeNodeMeta, MetaError } from '../../protocol/node-meta.js'
import { openGossipTopic, type GossipTopic } from '../net/gossip-topic.js'
import { DatagramError, HandlerError } from '../net/errors.js'
import { serveRequestResponse, sendRequest, type RequestResponseServer } from '../net/request-response.js'
import { openMessageChannel } from '../net/message-channel.js'
import type { DatagramChannel } from '../net/datagram-channel.js'
import { DatagramBypass, datagramRole, datagramTarget, dialableAddrs } from './probe-datagrams.js'
import type { RingleaderNode } from '../net/create-node.js'

export const MEMBERS_TOPIC = 'ringleader/members/1'
export const PROBE_PROTOCOL = '/ringleader/probe/1.0.0'
export const SYNC_PROTOCOL = '/ringleader/sync/1.0.0'

const EMPTY = new Uint8Array(0)
const OVER_LIBP2P = Object.freeze({ datagram: false })
const AS_DATAGRAM = Object.freeze({ datagram: true })
/**
 * Bound on the direct copies of one update (see sendToUnreached). A seed taking 8
 * handshakes at once (MAX_INCOMING_PENDING) has more fresh connections than 16
 * whose subscription it has not heard yet; with 16, a 50-agent herd ended with
 * stragglers that waited ~2 s for their wave-end push-pull (herds of 5.7 s against
 * 3.2–3.6 s with 64).
 */
const MAX_DIRECT_UPDATES = 64

export interface TransportOptions {
  node: RingleaderNode
  /**
   * Every accepted message, gossip or direct; `from` is the authenticated sender
   * (signer for gossip); `via.datagram`: it came as a UDP datagram, not over libp2p.
   */
  deliver: (from: string, msg: MembershipMessage, channel: MembershipChannel, via: { datagram: boolean }) => void
  /** Deadline for one probe-channel send, dial included (default 1000 ms). */
  probeTimeoutMs?: number
  /** Deadline for one push-pull send (default 5000 ms). */
  syncTimeoutMs?: number
  /** Deadline for a join's push-pull to its seed, which may be answering many (default 20 000 ms). */
  joinSyncTimeoutMs?: number
  onSendFailed?: (to: string, channel: MembershipChannel, err: unknown, msg: MembershipMessage) => void
  /**
   * Called after a push-pull request was delivered: the reply, if the core makes one
   * soon enough, travels back as the response of that same request instead of a
   * request of its own (a join's answer then needs no new stream from the seed, which
   * under load took ~100 ms). Undefined answers with an empty receipt, as before.
   */
  answer?: (from: string, msg: MembershipMessage) => Promise<MembershipMessage | undefined>
  /** Signed UDP datagrams for ping/ack/nack/ping-req (probe-datagrams.ts); without it all goes over libp2p. */
  datagrams?: DatagramChannel
  /** Clock for the datagram bypass (default performance.now). */
  now?: () => number
}

export interface TransportStats {
  sent: Record<MembershipChannel, number>
  received: Record<MembershipChannel, number>
  sendFailures: Record<MembershipChannel, number>
  /** Application bytes, both directions, all channels (gossip counted once per publish/receipt). */
  bytesOut: number
  bytesIn: number
  /** Messages refused as malformed, oversized, unsigned or of an unknown version/type. */
  rejected: Record<MembershipChannel, number>
  /** Rejections by reason (wire error code, `bad-meta`, `unsigned`, `oversize`). */
  rejectReasons: Record<string, number>
  /** Direct and published messages by type (ping, ack, ping-req, push-pull, alive, …). */
  sentByType: Record<string, number>
  /** Push-pull replies sent back in a request's response, and received that way. */
  inBand: { answered: number, received: number }
  /**
   * Probe-channel messages that went, or came, as UDP datagrams (counted in
   * sent/received.probe too), and `fallbacks`: pings sent again over libp2p because
   * the datagram's ack was late (Outgoing.reliable). Many fallbacks and few
   * datagrams received are the sign of a firewall on the UDP port. `bypasses`: how
   * often a member was switched to libp2p-only probing because a fallback to it was
   * answered (datagramsBypassed).
   */
  datagrams: { sent: number, received: number, fallbacks: number, bypasses: number }
}

export interface MembershipTransport {
  readonly stats: TransportStats
  /** Publishes once on the topic; resolves to the peers it went to directly (-1 on failure). Never throws. */
  publish: (msg: GossipMessage) => Promise<number>
  /** Sends one direct message (routed by channelOf); resolves true once sent (probe channel) or received (sync). Never throws. */
  send: (out: Outgoing) => Promise<boolean>
  /** Rejections of the topic (gossipsub-level ones included). */
  gossipRejected: () => number
  /**
   * Whether datagrams to `id` are bypassed for now (DatagramBypass): everything to it
   * goes over libp2p, sparing each probe the wait for a lost datagram.
   */
  datagramsBypassed: (id: string) => boolean
  /** Whether a ping to `id` (at `addrs`) goes as a datagram: both sides have them and they are not bypassed. */
  pingsByDatagram: (id: string, addrs: readonly string[]) => boolean
  /** Hands over the payload of a verified datagram (wire it to the channel's onMessage). */
  receiveDatagram: (from: string, payload: Uint8Array, info: { answersUs: boolean }) => void
  stop: () => Promise<void>
}

/** Decodes a message from `channel` and checks the NodeMeta an alive or push-pull carries. */
export function decodeChecked (bytes: Uint8Array, channel: MembershipChannel): MembershipMessage {
  const msg = decodeMembershipMessage(bytes, channel)
  try {
    if (msg.type === 'alive') decodeNodeMeta(msg.meta)
    if (msg.type === 'push-pull') for (const e of msg.entries) if (e.status === 'alive' || e.meta.length > 0) decodeNodeMeta(e.meta)
  } catch (err) {
    if (err instanceof MetaError) throw new WireError('invalid-message', `bad node meta: ${err.message}`, 'meta')
    throw err
  }
  return msg
}

export async function startTransport (opts: TransportOptions): Promise<MembershipTransport> {
  const { node } = opts
  const zero = (): Record<MembershipChannel, number> => ({ gossip: 0, probe: 0, sync: 0 })
  const stats: TransportStats = { sent: zero(), received: zero(), sendFailures: zero(), bytesOut: 0, bytesIn: 0, rejected: zero(), rejectReasons: {}, sentByType: {}, inBand: { answered: 0, received: 0 }, datagrams: { sent: 0, received: 0, fallbacks: 0, bypasses: 0 } }
  const countSent = (channel: MembershipChannel, type: string, bytes: Uint8Array): void => {
    stats.sent[channel]++
    stats.sentByType[type] = (stats.sentByType[type] ?? 0) + 1
    stats.bytesOut += bytes.byteLength
  }
  const reject = (channel: MembershipChannel, reason: string): void => {
    stats.rejected[channel]++
    stats.rejectReasons[reason] = (stats.rejectReasons[reason] ?? 0) + 1
  }
  const knownAddrs = new Map<string, string>()
  const peerIds = new Map<string, PeerId>()
  const peerIdOf = (id: string): PeerId => {
    let p = peerIds.get(id)
    if (p === undefined) { p = peerIdFromString(id); peerIds.set(id, p) }
    return p
  }

  const topic: GossipTopic = openGossipTopic(node.services.pubsub, MEMBERS_TOPIC, {
    maxMessageBytes: MAX_GOSSIP_BYTES,
    validate: (bytes) => {
      try {
        decodeChecked(bytes, 'gossip')
        return 'accept'
      } catch (err) {
        reject('gossip', err instanceof WireError ? err.code : 'invalid')
        return 'reject'
      }
    }
  })
  topic.onMessage((bytes, from) => {
    stats.received.gossip++
    stats.bytesIn += bytes.byteLength
    // Validated already; decoding twice is cheaper than caching across gossipsub's callbacks.
    opts.deliver(from.toString(), decodeChecked(bytes, 'gossip'), 'gossip', OVER_LIBP2P)
  })

  /**
   * Decodes, counts and delivers one direct message (`beforeDeliver` runs between
   * decoding and delivery); throws WireError on a bad one (after counting it).
   */
  const receiveDirect = (bytes: Uint8Array, from: PeerId, channel: 'probe' | 'sync', beforeDeliver?: (msg: MembershipMessage) => void): void => {
    stats.bytesIn += bytes.byteLength
    let msg: MembershipMessage
    try {
      msg = decodeChecked(bytes, channel)
    } catch (err) {
      reject(channel, err instanceof WireError ? err.code : 'invalid')
      throw err
    }
    stats.received[channel]++
    beforeDeliver?.(msg)
    opts.deliver(from.toString(), msg, channel, OVER_LIBP2P)
  }

  const bypass = new DatagramBypass(opts.now ?? (() => performance.now()))
  const noteProbeOverLibp2p = (from: string, msg: MembershipMessage): void => {
    if (msg.type === 'ack' && bypass.fallbackAnswered(from, msg.seq)) stats.datagrams.bypasses++
  }

  const probeTimeoutMs = opts.probeTimeoutMs ?? 1000
  const syncTimeoutMs = opts.syncTimeoutMs ?? 5000
  const joinSyncTimeoutMs = opts.joinSyncTimeoutMs ?? 20_000
  const probeChannel = await openMessageChannel(node, PROBE_PROTOCOL, {
    maxMessageBytes: MAX_PROBE_BYTES,
    sendTimeoutMs: probeTimeoutMs,
    onMessage: (from, bytes) => { try { receiveDirect(bytes, from, 'probe', msg => { noteProbeOverLibp2p(from.toString(), msg) }) } catch { /* counted in rejected */ } },
    onBadFrame: () => { reject('probe', 'too-large') }
  })
  const syncServer = await serveRequestResponse(node, SYNC_PROTOCOL, async (bytes, from) => {
    // Ask for the in-band answer before delivering: the reply may be ready as
    // soon as the core has the request, and must find the waiter in place.
    let answer: Promise<MembershipMessage | undefined> | undefined
    try {
      receiveDirect(bytes, from, 'sync', msg => { answer = opts.answer?.(from.toString(), msg) })
    } catch (err) {
      const code = err instanceof WireError ? err.code : 'invalid'
      throw new HandlerError(code === 'too-large' ? 'too-large' : 'bad-message', err instanceof Error ? err.message : String(err))
    }
    const reply = await answer?.catch(() => undefined)
    if (reply === undefined) return EMPTY
    const out = encodeMembershipMessage(reply)
    stats.inBand.answered++
    countSent('sync', reply.type, out)
    return out
  }, { maxRequestBytes: MAX_SYNC_BYTES, maxResponseBytes: MAX_SYNC_BYTES, timeoutMs: 10_000, maxInboundStreams: 32, maxConcurrent: 64 })

  // Keep the peer store informed of members' addresses, so a dial by PeerId works
  // for a member we have never been connected to.
  const learnAddrs = async (id: string, addrs: readonly string[]): Promise<void> => {
    const dialable = dialableAddrs(addrs)
    if (dialable.length === 0) return
    const key = dialable.join(' ')
    if (knownAddrs.get(id) === key) return
    const parsed: Multiaddr[] = []
    for (const a of dialable) { try { parsed.push(multiaddr(a)) } catch { /* skip an unparsable address */ } }
    if (parsed.length === 0) return
    await node.peerStore.merge(peerIdOf(id), { multiaddrs: parsed })
    knownAddrs.set(id, key)
  }

  let stopped = false

  const pingsByDatagram = (id: string, addrs: readonly string[]): boolean =>
    opts.datagrams !== undefined && !bypass.active(id) && datagramTarget(opts.datagrams, 'request', id, addrs) !== undefined

  /** Sends a probe message as a datagram when it may go as one; false means: use libp2p. */
  const sendDatagram = (out: Outgoing, bytes: Uint8Array): boolean => {
    const role = datagramRole(out.msg)
    if (opts.datagrams === undefined || role === undefined || out.reliable === true || bypass.active(out.to)) return false
    const at = datagramTarget(opts.datagrams, role, out.to, out.addrs)
    if (at === undefined) return false
    try {
      if (!opts.datagrams.send(out.to, at, bytes)) return false
    } catch (err) {
      if (err instanceof DatagramError) return false // too large for one datagram
      throw err
    }
    stats.datagrams.sent++
    return true
  }

  /**
   * Gossipsub writes only to peers whose subscription it has heard and to which its
   * own outbound stream is open; on a brand new connection both come after identify,
   * and on a seed starved of CPU during a herd the stream can lag the subscription by
   * seconds. A member that joined moments ago then misses what this node publishes
   * now (another joiner's alive), and with a join wave's sparse mesh nothing relays
   * it until a push-pull. So every open connection the publish did not reach gets the
   * update directly on the probe channel (a no-op once the mesh is up). Returns how
   * many were sent.
   */
  const sendToUnreached = (bytes: Uint8Array, reached: readonly string[]): number => {
    const skip = new Set(reached)
    let sent = 0
    for (const c of node.getConnections()) {
      const id = c.remotePeer.toString()
      if (sent >= MAX_DIRECT_UPDATES) break
      if (c.status !== 'open' || skip.has(id)) continue
      skip.add(id)
      sent++
      stats.sent.probe++ // a copy of a gossip message: counted by type under gossip already
      stats.bytesOut += bytes.byteLength
      void probeChannel.send(c.remotePeer, bytes).then(ok => { if (!ok) stats.sendFailures.probe++ })
    }
    return sent
  }

  return {
    stats,
    publish: async (msg) => {
      if (stopped) return -1
      const bytes = encodeMembershipMessage(msg)
      countSent('gossip', msg.type, bytes)
      let reached: string[]
      try {
        reached = await topic.publish(bytes)
      } catch {
        stats.sendFailures.gossip++
        return -1
      }
      return reached.length + sendToUnreached(bytes, reached)
    },
    send: async (out) => {
      if (stopped) return false
      if (out.reliable === true && datagramRole(out.msg) === 'request') {
        // A fallback ping: it repeats, over libp2p, a ping that went as a datagram.
        // If that one went over libp2p already, this would only be a duplicate.
        if (!pingsByDatagram(out.to, out.addrs)) return true
        stats.datagrams.fallbacks++
        if (out.msg.type === 'ping') bypass.fallbackSent(out.to, out.msg.seq)
      }
      const channel = channelOf(out.msg)
      const bytes = encodeMembershipMessage(out.msg)
      countSent(channel, out.msg.type, bytes)
      try {
        if (channel === 'probe' && sendDatagram(out, bytes)) {
          // The peer store still learns the member's addresses (for later dials by id),
          // but a ping does not wait for it.
          void learnAddrs(out.to, out.addrs).catch(() => {})
          return true
        }
        await learnAddrs(out.to, out.addrs)
        if (channel === 'sync') {
          const response = await sendRequest(node, peerIdOf(out.to), SYNC_PROTOCOL, bytes, { maxRequestBytes: MAX_SYNC_BYTES, maxResponseBytes: MAX_SYNC_BYTES, timeoutMs: out.msg.type === 'push-pull' && out.msg.join ? joinSyncTimeoutMs : syncTimeoutMs })
          // A reply in the response (see TransportOptions.answer); a bad one is counted, not fatal to the send.
          if (response.byteLength > 0) {
            try {
              receiveDirect(response, peerIdOf(out.to), 'sync')
              stats.inBand.received++
            } catch { /* counted in rejected */ }
          }
        } else if (!await probeChannel.send(peerIdOf(out.to), bytes)) {
          throw new Error('probe channel send failed')
        }
        return true
      } catch (err) {
        stats.sendFailures[channel]++
        try { opts.onSendFailed?.(out.to, channel, err, out.msg) } catch { /* a hint sink must not break sending */ }
        return false
      }
    },
    gossipRejected: () => topic.stats.rejected,
    datagramsBypassed: (id) => bypass.active(id),
    pingsByDatagram,
    receiveDatagram: (from, payload, info) => {
      if (stopped) return
      stats.bytesIn += payload.byteLength
      let msg: MembershipMessage
      try {
        msg = decodeChecked(payload, 'probe')
      } catch (err) {
        reject('probe', err instanceof WireError ? err.code : 'invalid')
        return
      }
      const role = datagramRole(msg)
      // Updates and push-pulls come over libp2p only; an answer must echo our nonce.
      if (role === undefined) { reject('probe', 'not-a-probe'); return }
      if (role === 'answer' && !info.answersUs) { reject('probe', 'stale-answer'); return }
      if (role === 'answer') bypass.datagramAnswered(from)
      stats.received.probe++
      stats.datagrams.received++
      opts.deliver(from, msg, 'probe', AS_DATAGRAM)
    },
    stop: async () => {
      stopped = true
      topic.close()
      await probeChannel.stop().catch(() => {})
      await syncServer.stop().catch(() => {})
    }
  }
}

// Which probe messages travel as signed UDP datagrams (net/datagram-channel.ts), to
// where, and where this node binds and what it advertises. A member that listens
// for them says so with a `/ip4|ip6/H/udp/P` address beside its libp2p ones; ping,
// ack, nack and ping-req to it go as datagrams, and everything else (direct
// updates, push-pulls), and every message to a member with no such address, goes
// over libp2p as before.
//
// Answers (ack, nack) go back as datagrams only to a member whose datagram this
// process has verified, because they must echo that member's nonce; an answer to a
// ping that came over libp2p goes back over libp2p. A datagram over the channel's
// size limit (a ping-req naming many addresses) goes over libp2p too.
import type { MembershipMessage } from '../../protocol/membership/index.js'
import { isWildcard, type DatagramChannel, type DatagramEndpoint } from '../net/datagram-channel.js'

const UDP_ADDR = /^\/(ip4|ip6)\/([^/]+)\/udp\/(\d{1,5})$/

export type DatagramRole = 'request' | 'answer'

/** How `msg` may travel as a datagram: as a request (ping, ping-req), an answer (ack, nack), or not at all. */
export function datagramRole (msg: MembershipMessage): DatagramRole | undefined {
  switch (msg.type) {
    case 'ping': case 'ping-req': return 'request'
    case 'ack': case 'nack': return 'answer'
    default: return undefined
  }
}

/** The UDP endpoints a member advertises, in its order (routable ones first, as the member lists them). */
export function udpEndpoints (addrs: readonly string[]): DatagramEndpoint[] {
  const out: DatagramEndpoint[] = []
  for (const a of addrs) {
    const m = UDP_ADDR.exec(a)
    if (m === null) continue
    const port = Number(m[3])
    if (port > 0 && port <= 0xffff) out.push({ host: m[2], port })
  }
  return out
}

/** Addresses without the UDP ones: what libp2p may dial. */
export function dialableAddrs (addrs: readonly string[]): string[] {
  return addrs.filter(a => !UDP_ADDR.test(a))
}

/**
 * The UDP addresses to advertise for this node's `tcpAddrs` (its libp2p addresses,
 * routable first) given the bound sockets: the same hosts, the socket's port of that
 * address family. A socket bound to one address advertises that address only.
 */
export function advertisedUdpAddrs (tcpAddrs: readonly string[], bound: readonly DatagramEndpoint[]): string[] {
  const out: string[] = []
  for (const a of tcpAddrs) {
    const m = /^\/(ip4|ip6)\/([^/]+)\/tcp\/\d+/.exec(a)
    if (m === null) continue
    const socket = bound.find(b => (b.host.includes(':') ? 'ip6' : 'ip4') === m[1] && (isWildcard(b.host) || b.host === m[2]))
    if (socket === undefined) continue
    const udp = `/${m[1]}/${m[2]}/udp/${socket.port}`
    if (!out.includes(udp)) out.push(udp)
  }
  return out
}

/** Where a datagram of `role` to `to` goes, or undefined when it must go over libp2p. */
export function datagramTarget (channel: DatagramChannel, role: DatagramRole, to: string, addrs: readonly string[]): DatagramEndpoint | undefined {
  if (role === 'answer') {
    if (!channel.heardFrom(to)) return undefined
    return udpEndpoints(addrs).find(e => channel.reaches(e.host)) ?? channel.sourceOf(to)
  }
  return udpEndpoints(addrs).find(e => channel.reaches(e.host))
}

/**
 * Where the probe datagram sockets bind: per address family, the first TCP listen
 * address's host, on the port its TCP listener got (memberlist's one port for both),
 * read from the node's resolved addresses since the configured port may be 0.
 */
export function datagramBinds (listen: readonly string[], resolved: readonly string[]): DatagramEndpoint[] {
  const binds: DatagramEndpoint[] = []
  for (const family of ['ip4', 'ip6']) {
    const host = listen.map(a => new RegExp(`^/${family}/([^/]+)/tcp/\\d+`).exec(a)?.[1]).find(h => h !== undefined)
    if (host === undefined) continue
    const port = resolved.map(a => new RegExp(`^/${family}/[^/]+/tcp/(\\d+)`).exec(a)?.[1]).find(p => p !== undefined)
    binds.push({ host, port: port === undefined ? 0 : Number(port) })
  }
  return binds
}

export interface DatagramCounts { sent: number, received: number }

/**
 * Whether a window of probing looks like a UDP port that drops what arrives: this
 * node sent at least `minSent` probe datagrams in it and received none (no ping
 * from its observers, no answer to its own). Members then suspect it while it
 * answers over libp2p; the operator needs to hear why.
 */
export function datagramsSilent (before: DatagramCounts, now: DatagramCounts, minSent = 20): boolean {
  return now.sent - before.sent >= minSent && now.received === before.received
}

/** How long a member whose datagrams fail is probed over libp2p only (then datagrams are tried again). */
export const DATAGRAM_BYPASS_MS = 10 * 60_000
/**
 * Fallback pings answered over libp2p in a row, with no datagram answer from that
 * member between them, before its datagrams are bypassed. One is not enough: on a
 * loaded box a datagram's ack can merely be late, and then it still arrives.
 */
const FALLBACK_WINS_TO_BYPASS = 3
/** Fallback pings awaiting their answer: how long one is remembered, and how many at most. */
const FALLBACK_MEMORY_MS = 10_000
const MAX_FALLBACKS_REMEMBERED = 1024

/**
 * Which members' datagrams to bypass. FALLBACK_WINS_TO_BYPASS fallback pings in a
 * row answered over libp2p, with no datagram answer between them, mean the datagram
 * path to that member is broken one way or both (a firewall); it is then probed over
 * libp2p only for DATAGRAM_BYPASS_MS. Bounded: fallbacks are remembered for
 * FALLBACK_MEMORY_MS, at most MAX_FALLBACKS_REMEMBERED.
 */
export class DatagramBypass {
  /** Fallback pings sent, by `to seq`, and when. */
  private readonly fallbacks = new Map<string, number>()
  /** Fallbacks answered in a row per member (reset by a datagram answer from it). */
  private readonly wins = new Map<string, number>()
  private readonly until = new Map<string, number>()

  constructor (private readonly now: () => number) {}

  active (id: string): boolean {
    const until = this.until.get(id)
    if (until === undefined) return false
    if (this.now() < until) return true
    this.until.delete(id)
    return false
  }

  fallbackSent (to: string, seq: number): void {
    const at = this.now()
    for (const [key, sentAt] of this.fallbacks) {
      if (at - sentAt < FALLBACK_MEMORY_MS && this.fallbacks.size < MAX_FALLBACKS_REMEMBERED) break
      this.fallbacks.delete(key) // oldest first (insertion order)
    }
    this.fallbacks.set(`${to} ${seq}`, at)
  }

  /** An ack came over libp2p; true when it answered one of our fallbacks and `from` is now bypassed. */
  fallbackAnswered (from: string, seq: number): boolean {
    if (!this.fallbacks.delete(`${from} ${seq}`)) return false
    const wins = (this.wins.get(from) ?? 0) + 1
    if (wins < FALLBACK_WINS_TO_BYPASS) {
      if (this.wins.size >= MAX_FALLBACKS_REMEMBERED) this.wins.clear() // bound it; a count only delays a bypass
      this.wins.set(from, wins)
      return false
    }
    this.wins.delete(from)
    this.until.set(from, this.now() + DATAGRAM_BYPASS_MS)
    return true
  }

  /** A datagram answer from `from` verified: the round trip by datagram works. */
  datagramAnswered (from: string): void {
    this.wins.delete(from)
  }
}

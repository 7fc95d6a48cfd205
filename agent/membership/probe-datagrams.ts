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
